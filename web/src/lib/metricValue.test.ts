import { describe, expect, it } from "vitest";
import { formatMetric, toNumber } from "./metricValue";

describe("toNumber", () => {
  it("passes numbers through", () => {
    expect(toNumber(1.5)).toBe(1.5);
    expect(toNumber(-0)).toBe(-0);
  });
  it("reads the strings the API uses for values JSON cannot carry", () => {
    expect(toNumber("NaN")).toBeNaN();
    expect(toNumber("Infinity")).toBe(Infinity);
    expect(toNumber("-Infinity")).toBe(-Infinity);
  });
  it("treats anything else as NaN", () => {
    expect(toNumber("12")).toBeNaN();
    expect(toNumber(null)).toBeNaN();
    expect(toNumber(undefined)).toBeNaN();
  });
});

describe("formatMetric", () => {
  it("formats compactly", () => {
    expect(formatMetric(0.123456)).toBe("0.1235");
    expect(formatMetric(42)).toBe("42");
    expect(formatMetric(1234567.8)).toBe("1.235e+6");
    expect(formatMetric(0.00012)).toBe("1.2e-4");
    expect(formatMetric("NaN")).toBe("NaN");
    expect(formatMetric("-Infinity")).toBe("-∞");
    expect(formatMetric(0)).toBe("0");
  });
});
