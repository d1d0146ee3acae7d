import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type uPlot from "uplot";
import type { Schemas } from "../api/client";
import { seriesColor, seriesDash } from "./MetricChartPalette";

// uPlot needs a canvas (and matchMedia when it loads), which jsdom lacks: a stand-in runs the draw hooks.
vi.mock("uplot", () => ({
  default: class {
    scales = { x: {} };
    data: uPlot.AlignedData;
    width = 600;
    private readonly opts: uPlot.Options;
    constructor(opts: uPlot.Options, data: uPlot.AlignedData) {
      this.opts = opts;
      this.data = data;
      this.draw();
    }
    draw() {
      for (const h of this.opts.hooks?.draw ?? []) h?.(this as unknown as uPlot);
    }
    setData(data: uPlot.AlignedData) {
      this.data = data;
      this.draw();
    }
    setSize() {}
    destroy() {}
  },
}));

// The API: one fetched series per experiment, and a points stream the test feeds.
const asked: { run: string; key: string; experiments?: number[]; max_points?: number; method?: string }[] = [];
let onPoints: ((p: Schemas["MetricPoints"]) => void) | null = null;
vi.mock("../api/client", () => ({
  isAbortError: (e: unknown) => e instanceof Error && e.name === "AbortError",
  api: {
    getMetricSeries(run: string, q: { key: string; experiments?: number[] }): Promise<Schemas["MetricSeriesList"]> {
      asked.push({ run, ...q });
      return Promise.resolve({
        run,
        key: q.key,
        method: "lttb",
        series: (q.experiments ?? []).map((e) => ({
          experiment: e,
          total: 1000,
          steps: [0, 1, 2],
          times: [100, 101, 102],
          values: [1, 0.5, e === 1 ? "NaN" : 0.25],
        })),
      });
    },
    streamMetrics(_run: string, _q: unknown, cb: (p: Schemas["MetricPoints"]) => void, signal: AbortSignal) {
      onPoints = cb;
      return new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    },
  },
}));
const { MetricPanel, maxPointsFor, panelNotes, seriesLabel, valueFormatFor } = await import("./MetricPanel");
const { systemKeys, systemTitle } = await import("./SystemMetrics");
const { MetricStreamsProvider } = await import("./MetricStreams");

const stat = { experiment: 0, total: 10, held: 10, drawn: 10, nonFinite: 0, nonPositive: 0, lastRaw: 1 };

describe("MetricPanel helpers", () => {
  it("asks about two points per pixel, within 500..4000", () => {
    expect(maxPointsFor(0)).toBe(500);
    expect(maxPointsFor(900)).toBe(1800);
    expect(maxPointsFor(5000)).toBe(4000);
    expect(maxPointsFor(NaN)).toBe(500);
  });

  it("always names the experiment in a series label", () => {
    expect(seriesLabel(3, undefined)).toBe("#3");
    expect(seriesLabel(3, "lr=0.1")).toBe("#3 lr=0.1");
    expect(seriesLabel(3, "#3 lr=0.1")).toBe("#3 lr=0.1");
    expect(seriesLabel(3, "#31 x")).toBe("#3 #31 x");
  });

  it("reads the unit from the key", () => {
    expect(valueFormatFor("system/memory_rss_bytes")).toBe("bytes");
    expect(valueFormatFor("system/gpu0/utilization_percent")).toBe("percent");
    expect(valueFormatFor("loss")).toBe("number");
  });

  it("notes downsampling and points left out", () => {
    expect(panelNotes([stat], false)).toEqual([]);
    const notes = panelNotes(
      [
        { ...stat, total: 1_000_000, held: 2000, nonFinite: 1 },
        { ...stat, total: 500, held: 500, nonPositive: 4 },
      ],
      true,
    );
    expect(notes[0]).toMatch(/2,500 of 1,000,500 points shown/);
    expect(notes[1]).toBe("1 point NaN or infinite, not drawn");
    expect(notes[2]).toBe("4 points ≤ 0 left out of the log scale");
    expect(panelNotes([{ ...stat, nonPositive: 4 }], false)).toEqual([]);
  });
});

describe("series colours", () => {
  it("cycle through the palette and dash the lines after the eighth", () => {
    expect(seriesColor(0, false)).not.toBe(seriesColor(1, false));
    expect(seriesColor(12, false)).toBe(seriesColor(0, false));
    expect(seriesDash(7)).toBeUndefined();
    expect(seriesDash(8)).toEqual([6, 3]);
  });
});

describe("SystemMetrics helpers", () => {
  it("keeps system keys, host first, then each GPU's", () => {
    expect(
      systemKeys([
        "loss",
        "system/gpu1/utilization_percent",
        "system/gpu0/memory_used_bytes",
        "system/memory_rss_bytes",
        "system/gpu0/utilization_percent",
        "system/cpu_percent",
        "system/disk_io",
      ]),
    ).toEqual([
      "system/cpu_percent",
      "system/memory_rss_bytes",
      "system/disk_io",
      "system/gpu0/utilization_percent",
      "system/gpu0/memory_used_bytes",
      "system/gpu1/utilization_percent",
    ]);
  });

  it("titles keys for people", () => {
    expect(systemTitle("system/cpu_percent")).toBe("CPU %");
    expect(systemTitle("system/gpu2/memory_used_bytes")).toBe("GPU 2 memory used");
    expect(systemTitle("system/gpu0/temperature")).toBe("GPU 0 temperature");
    expect(systemTitle("system/disk_io")).toBe("disk_io");
  });
});

describe("MetricPanel", () => {
  afterEach(() => {
    cleanup();
    asked.length = 0;
    onPoints = null;
  });

  it("fetches downsampled series, marks the data, draws them and appends live points", async () => {
    window.__latticePerf = [];
    render(
      <MetricStreamsProvider>
        <MetricPanel run="r" metricKey="loss" experiments={[0, 1]} labels={{ 1: "lr=0.2" }} live />
      </MetricStreamsProvider>,
    );
    const chart = await screen.findByTestId("metric-chart");
    await waitFor(() => expect(chart.dataset.seriesCount).toBe("2"));
    expect(asked[0]).toMatchObject({ run: "r", key: "loss", experiments: [0, 1], method: "lttb", max_points: 500 });
    const names = window.__latticePerf.map((m) => m.name);
    expect(names.indexOf("chart-data:loss")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("chart-drawn:loss")).toBeGreaterThan(names.indexOf("chart-data:loss"));
    expect(chart.dataset.seriesCount).toBe("2");
    expect(JSON.parse(chart.dataset.lastValues!)).toEqual([0.25, "NaN"]);
    expect(screen.getByText(/6 of 2,000 points shown/)).toBeTruthy();

    await act(async () => {
      onPoints!({ experiment: 0, key: "loss", steps: [3], times: [103], values: [0.125] });
      onPoints!({ experiment: 7, key: "loss", steps: [3], times: [103], values: [9] }); // not shown here
      await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    });
    expect(JSON.parse(chart.dataset.lastValues!)).toEqual([0.125, "NaN"]);

    // A resumed attempt logs step 2 again: it replaces what was there from step 2 on.
    await act(async () => {
      onPoints!({ experiment: 0, key: "loss", steps: [2], times: [200], values: [0.3] });
      await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    });
    expect(JSON.parse(chart.dataset.lastValues!)).toEqual([0.3, "NaN"]);
  });
});
