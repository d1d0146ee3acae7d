import { describe, expect, it } from "vitest";
import { appendPoints, lastValuesJson, storeSeries, toChartData, type StoredSeries } from "./series";

const opts = { xMode: "step" as const, smoothing: 0, logScale: false };

function fetched(): StoredSeries[] {
  return storeSeries(
    [
      { experiment: 2, total: 3, steps: [0, 2, 4], times: [100, 102, 104], values: [1, "NaN", 3] },
      { experiment: 0, total: 10, steps: [1, 2, 3], times: [50, 51, 52], values: [5, 6, "Infinity"] },
    ],
    [0, 1, 2],
  );
}

describe("storeSeries", () => {
  it("orders series as asked, skips missing ones and converts values", () => {
    const s = fetched();
    expect(s.map((x) => x.experiment)).toEqual([0, 2]);
    expect(s[0]!.values).toEqual([5, 6, Infinity]);
    expect(s[1]!.values[1]).toBeNaN();
  });
});

describe("toChartData", () => {
  it("merges steps onto one ascending x axis with nulls for gaps and unplottable values", () => {
    const { data, stats } = toChartData(fetched(), opts);
    expect(data[0]).toEqual([0, 1, 2, 3, 4]);
    expect(data[1]).toEqual([null, 5, 6, null, null]);
    expect(data[2]).toEqual([1, null, null, null, 3]);
    expect(stats.map((s) => [s.experiment, s.total, s.held, s.drawn, s.nonFinite])).toEqual([
      [0, 10, 3, 2, 1],
      [2, 3, 3, 2, 1],
    ]);
    expect(stats[0]!.lastRaw).toBe(Infinity);
  });

  it("uses seconds since each series' first point in relative mode and epoch seconds in wall mode", () => {
    const rel = toChartData(fetched(), { ...opts, xMode: "relative" });
    expect(rel.data[0]).toEqual([0, 1, 2, 4]);
    expect(rel.data[1]).toEqual([5, 6, null, null]);
    expect(rel.data[2]).toEqual([1, null, null, 3]);
    const wall = toChartData(fetched(), { ...opts, xMode: "wall" });
    expect(wall.data[0]).toEqual([50, 51, 52, 100, 102, 104]);
  });

  it("drops non-positive values on a log scale and counts them", () => {
    const store = storeSeries(
      [{ experiment: 0, total: 3, steps: [0, 1, 2], times: [0, 1, 2], values: [-1, 0, 2] }],
      [0],
    );
    const { data, stats } = toChartData(store, { ...opts, logScale: true });
    expect(data[1]).toEqual([null, null, 2]);
    expect(stats[0]!.nonPositive).toBe(2);
  });

  it("smooths the drawn values but reports the raw last value", () => {
    const store = storeSeries(
      [{ experiment: 0, total: 3, steps: [0, 1, 2], times: [0, 1, 2], values: [1, 3, 5] }],
      [0],
    );
    const { data, stats } = toChartData(store, { ...opts, smoothing: 0.5 });
    expect(data[1]![2]).toBeCloseTo(27 / 7, 10);
    expect(stats[0]!.lastRaw).toBe(5);
  });

  it("handles 5 series of 2,000 points quickly", () => {
    const list = [0, 1, 2, 3, 4].map((e) => ({
      experiment: e,
      total: 1_000_000,
      steps: Array.from({ length: 2000 }, (_, i) => i * 500 + e),
      times: Array.from({ length: 2000 }, (_, i) => 1e9 + i),
      values: Array.from({ length: 2000 }, (_, i) => Math.sin(i)),
    }));
    const store = storeSeries(list, [0, 1, 2, 3, 4]);
    const t0 = performance.now();
    const { data } = toChartData(store, { ...opts, smoothing: 0.6 });
    expect(performance.now() - t0).toBeLessThan(100);
    expect(data[0].length).toBe(10_000);
    expect(data.length).toBe(6);
  });
});

describe("appendPoints", () => {
  it("appends in order, creating series for wanted experiments in the asked order", () => {
    const store = fetched();
    expect(appendPoints(store, { experiment: 1, steps: [7], times: [9], values: [0.5] }, [0, 1, 2])).toBe(true);
    expect(store.map((s) => s.experiment)).toEqual([0, 1, 2]);
    expect(appendPoints(store, { experiment: 0, steps: [4, 5], times: [53, 54], values: [7, "NaN"] }, [0, 1, 2])).toBe(
      true,
    );
    expect(store[0]!.steps).toEqual([1, 2, 3, 4, 5]);
    expect(store[0]!.total).toBe(12);
    expect(appendPoints(store, { experiment: 9, steps: [1], times: [1], values: [1] }, [0, 1, 2])).toBe(false);
  });

  it("replaces the steps a resumed attempt logs again", () => {
    const store = storeSeries(
      [{ experiment: 0, total: 5, steps: [0, 1, 2, 3, 4], times: [0, 1, 2, 3, 4], values: [0, 1, 2, 3, 4] }],
      [0],
    );
    appendPoints(store, { experiment: 0, steps: [2, 3], times: [10, 11], values: [20, 30] }, [0]);
    expect(store[0]!.steps).toEqual([0, 1, 2, 3]);
    expect(store[0]!.values).toEqual([0, 1, 20, 30]);
    expect(store[0]!.times).toEqual([0, 1, 10, 11]);
    expect(store[0]!.total).toBe(4);
    appendPoints(store, { experiment: 0, steps: [3], times: [12], values: [33] }, [0]);
    expect(store[0]!.values).toEqual([0, 1, 20, 33]);
  });
});

describe("lastValuesJson", () => {
  it("writes numbers, and NaN and infinities as strings", () => {
    const { stats } = toChartData(fetched(), opts);
    expect(lastValuesJson(stats)).toBe('["Infinity",3]');
    expect(JSON.parse(lastValuesJson([{ ...stats[0]!, lastRaw: NaN }]))).toEqual(["NaN"]);
  });
});
