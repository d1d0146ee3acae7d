// @vitest-environment node
// Every text colour of styles.css on the backgrounds it is used on, in both colour schemes: WCAG contrast of at
// least 4.5:1.
import { describe, expect, it } from "vitest";

// Vitest stubs CSS imports (even `?raw`), so the file is read from disk; the module's name is built at run time
// because the browser build has no typings for Node's modules.
interface Fs {
  readFileSync(path: URL, encoding: "utf8"): string;
}
const fs = (await import(/* @vite-ignore */ ["node", "fs"].join(":"))) as Fs;
const css = fs.readFileSync(new URL("./styles.css", import.meta.url), "utf8");

function variables(block: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of block.matchAll(/--([a-z0-9-]+):\s*(#[0-9a-f]{6})\s*;/gi)) vars.set(m[1] ?? "", m[2] ?? "");
  return vars;
}

function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const light = variables(css.slice(css.indexOf(":root"), css.indexOf("@media (prefers-color-scheme: dark)")));
const darkStart = css.indexOf("@media (prefers-color-scheme: dark)");
const dark = new Map([...light, ...variables(css.slice(darkStart, css.indexOf("\n}\n", darkStart)))]);

const PAIRS: [string, string][] = [
  ["fg", "bg"], ["fg", "surface"], ["fg", "row-hover"], ["fg", "row-selected"],
  ["muted", "bg"], ["muted", "surface"], ["link", "bg"], ["link", "row-selected"], ["link", "row-hover"],
  ["danger-fg", "bg"], ["danger-fg", "surface"], ["error-fg", "error-bg"], ["warn-fg", "bg"],
  ["primary-fg", "primary-bg"],
  ...["queued", "running", "succeeded", "failed", "cancelled", "lost"].map(
    (s): [string, string] => [`${s}-fg`, `${s}-bg`],
  ),
];

describe("styles.css colours", () => {
  it("defines every colour in both schemes", () => {
    expect(light.size).toBeGreaterThan(20);
    expect(dark.get("bg")).not.toBe(light.get("bg"));
  });

  for (const [scheme, vars] of [["light", light], ["dark", dark]] as const) {
    it(`has readable text in the ${scheme} scheme`, () => {
      const low = PAIRS.flatMap(([fg, bg]) => {
        const a = vars.get(fg);
        const b = vars.get(bg);
        if (a === undefined || b === undefined) return [`${fg} on ${bg}: undefined`];
        const c = contrast(a, b);
        return c >= 4.5 ? [] : [`${fg} ${a} on ${bg} ${b}: ${c.toFixed(2)}`];
      });
      expect(low).toEqual([]);
    });
  }
});
