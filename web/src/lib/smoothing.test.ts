import { describe, expect, it } from "vitest";
import { smooth } from "./smoothing";

describe("smooth", () => {
  it("leaves values unchanged with weight 0", () => {
    expect(smooth([1, 5, 2], 0)).toEqual([1, 5, 2]);
  });

  it("matches hand-computed debiased averages", () => {
    // w = 0.5: ema1 = 0.5, debias 0.5/(1-0.5) = 1
    // ema2 = 0.25 + 1.5 = 1.75, debias 1.75/(1-0.25) = 2.3333
    // ema3 = 0.875 + 2.5 = 3.375, debias 3.375/(1-0.125) = 3.857142...
    const out = smooth([1, 3, 5], 0.5);
    expect(out[0]).toBeCloseTo(1, 10);
    expect(out[1]).toBeCloseTo(7 / 3, 10);
    expect(out[2]).toBeCloseTo(27 / 7, 10);
  });

  it("keeps a constant series constant (the debiasing removes the pull to zero)", () => {
    for (const v of smooth([4, 4, 4, 4], 0.9)) expect(v).toBeCloseTo(4, 10);
  });

  it("passes NaN and infinities through without poisoning later points", () => {
    const out = smooth([1, NaN, 3, Infinity, 5], 0.5);
    expect(out[0]).toBeCloseTo(1, 10);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBeCloseTo(7 / 3, 10);
    expect(out[3]).toBe(Infinity);
    expect(out[4]).toBeCloseTo(27 / 7, 10);
  });

  it("keeps gaps as gaps", () => {
    const out = smooth([null, 2, null, 2], 0.8);
    expect(out[0]).toBeNull();
    expect(out[1]).toBeCloseTo(2, 10);
    expect(out[2]).toBeNull();
    expect(out[3]).toBeCloseTo(2, 10);
  });

  it("clamps the weight below 1 so the curve still moves", () => {
    const out = smooth([0, 10], 5);
    // w = 0.999: ema2 = 0.001 * 10 = 0.01, debias 0.01 / (1 - 0.998001) = 5.0025...
    expect(out[1]).toBeCloseTo(0.01 / (1 - 0.999 * 0.999), 8);
  });

  it("does not modify its input", () => {
    const input = [1, 2, 3];
    smooth(input, 0.6);
    expect(input).toEqual([1, 2, 3]);
  });
});
