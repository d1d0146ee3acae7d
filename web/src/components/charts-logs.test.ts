// @vitest-environment node
import { describe, expect, it } from "vitest";
import { contrastRatio } from "../lib/contrast";
import { readCss } from "../lib/readCss.testutil";

const css = readCss(new URL("./charts-logs.css", import.meta.url));

// The variables of the first rule block declaring them, before and inside the dark-scheme media query.
function variables(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const block = /\{([^{}]*--log-bg[^{}]*)\}/.exec(text);
  if (block === null) throw new Error("no block declaring --log-bg");
  for (const m of block[1]!.matchAll(/(--[a-z0-9-]+):\s*(#[0-9a-f]{6})\s*;/gi)) out.set(m[1]!, m[2]!);
  return out;
}

const darkAt = css.indexOf("@media (prefers-color-scheme: dark)");
const schemes = { light: variables(css.slice(0, darkAt)), dark: variables(css.slice(darkAt)) };

describe.each(Object.entries(schemes))("the %s colours", (_name, vars) => {
  const get = (name: string) => {
    const v = vars.get(name);
    if (v === undefined) throw new Error(`${name} is not set`);
    return v;
  };
  const texts = ["--log-fg", "--log-dim", "--log-marker", "--log-error"];
  for (let i = 0; i < 16; i++) texts.push(`--ansi-${i}`);

  it("are all read from the stylesheet", () => {
    expect(vars.size).toBe(42);
  });

  it("give text at least 4.5:1 on the view's background and on the current line", () => {
    for (const t of texts) {
      for (const bg of ["--log-bg", "--log-current"]) {
        expect(contrastRatio(get(t), get(bg)), `${t} on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
    }
  });

  it("give the default text at least 4.5:1 on every background colour", () => {
    for (let i = 0; i < 16; i++) {
      expect(contrastRatio(get("--log-fg"), get(`--ansi-bg-${i}`)), `on --ansi-bg-${i}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("keep search marks readable", () => {
    expect(contrastRatio(get("--log-mark-fg"), get("--log-mark-bg"))).toBeGreaterThanOrEqual(4.5);
  });
});

describe("the chart palettes", () => {
  it("have at least 10 distinct colours with 3:1 contrast on the chart background", async () => {
    const { LIGHT_PALETTE, DARK_PALETTE } = await import("./MetricChartPalette");
    for (const [palette, bg] of [
      [LIGHT_PALETTE, schemes.light.get("--log-bg")!],
      [DARK_PALETTE, schemes.dark.get("--log-bg")!],
    ] as const) {
      expect(new Set(palette).size).toBeGreaterThanOrEqual(10);
      for (const c of palette) expect(contrastRatio(c, bg), `${c} on ${bg}`).toBeGreaterThanOrEqual(3);
    }
  });
});
