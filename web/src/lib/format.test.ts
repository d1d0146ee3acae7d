import { describe, expect, it } from "vitest";
import {
  countStates, elapsedMs, formatBytes, formatDuration, formatMoney, formatTimestamp, isActiveState,
  parseTimestamp, stateCounts,
} from "./format";

describe("timestamps and durations", () => {
  it("parses API timestamps and the empty one", () => {
    expect(parseTimestamp("2026-11-26T01:02:03.456Z")).toBe(Date.UTC(2026, 10, 26, 1, 2, 3, 456));
    expect(parseTimestamp("")).toBeNull();
    expect(parseTimestamp("yesterday")).toBeNull();
    expect(formatTimestamp("")).toBe("");
    expect(formatTimestamp("2026-11-26T01:02:03.456Z")).toMatch(/^2026-11-2\d \d\d:\d\d:03$/);
  });

  it("formats durations at every scale", () => {
    expect(formatDuration(null)).toBe("");
    expect(formatDuration(-5)).toBe("0ms");
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(42_000)).toBe("42s");
    expect(formatDuration(185_000)).toBe("3m 05s");
    expect(formatDuration((2 * 3600 + 7 * 60 + 59) * 1000)).toBe("2h 07m");
    expect(formatDuration((3 * 86400 + 4 * 3600) * 1000)).toBe("3d 04h");
  });

  it("measures to the end, or to now while running", () => {
    const start = "2026-11-26T01:00:00.000Z";
    const t0 = Date.UTC(2026, 10, 26, 1);
    expect(elapsedMs(start, "2026-11-26T01:00:10.000Z", 0)).toBe(10_000);
    expect(elapsedMs(start, "", t0 + 5000)).toBe(5000);
    expect(elapsedMs("", "", t0)).toBeNull();
  });
});

describe("sizes, counts and numbers", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12 * 1024 * 1024)).toBe("12 MiB");
    expect(formatBytes(80 * 1024 ** 3)).toBe("80 GiB");
    expect(formatBytes(-1)).toBe("");
  });

  it("orders state counts and drops zeros", () => {
    expect(stateCounts({ failed: 1, queued: 3, running: 0, succeeded: 2 })).toEqual([
      ["queued", 3], ["succeeded", 2], ["failed", 1],
    ]);
    expect(countStates([{ state: "a" }, { state: "b" }, { state: "a" }])).toEqual({ a: 2, b: 1 });
    expect(isActiveState("starting")).toBe(true);
    expect(isActiveState("failed")).toBe(false);
  });
});

describe("formatMoney", () => {
  it("writes cents, thousands and fractions of a cent as the CLI does", () => {
    expect(formatMoney(12.345)).toBe("$12.35");
    expect(formatMoney(0)).toBe("$0.00");
    expect(formatMoney(0.0042)).toBe("$0.0042");
    expect(formatMoney(1234.5)).toBe("$1,234.50");
    expect(formatMoney(1234567)).toBe("$1,234,567.00");
    expect(formatMoney(-3)).toBe("-$3.00");
    expect(formatMoney(Number.NaN)).toBe("$?");
  });
});
