// @vitest-environment node
// Every text colour of styles.css on the backgrounds it is used on, in both colour schemes: WCAG contrast of at
// least 4.5:1.
import { describe, expect, it } from "vitest";

import { contrastRatio } from "./lib/contrast";
import { readCss } from "./lib/readCss.testutil";

const css = readCss(new URL("./styles.css", import.meta.url));

function variables(block: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of block.matchAll(/--([a-z0-9-]+):\s*(#[0-9a-f]{6})\s*;/gi)) vars.set(m[1] ?? "", m[2] ?? "");
  return vars;
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
        const c = contrastRatio(a, b);
        return c >= 4.5 ? [] : [`${fg} ${a} on ${bg} ${b}: ${c.toFixed(2)}`];
      });
      expect(low).toEqual([]);
    });
  }
});
