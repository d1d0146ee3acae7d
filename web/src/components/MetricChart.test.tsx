import { cleanup, render } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type uPlot from "uplot";

// jsdom has no canvas, so uPlot is replaced by a recorder that "draws" (runs the draw hooks) on creation and
// on setData, the way uPlot does.
interface FakePlot {
  opts: uPlot.Options;
  data: uPlot.AlignedData;
  destroyed: boolean;
  resetScales: boolean[];
}
const plots: FakePlot[] = [];

vi.mock("uplot", () => {
  class FakeUPlot {
    rec: FakePlot;
    width: number;
    scales = { x: { min: undefined, max: undefined } };
    constructor(opts: uPlot.Options, data: uPlot.AlignedData) {
      this.rec = { opts, data, destroyed: false, resetScales: [] };
      this.width = opts.width;
      plots.push(this.rec);
      this.draw();
    }
    get data() {
      return this.rec.data;
    }
    draw() {
      for (const h of this.rec.opts.hooks?.draw ?? []) h?.(this as unknown as uPlot);
    }
    setData(data: uPlot.AlignedData, reset = true) {
      this.rec.data = data;
      this.rec.resetScales.push(reset);
      this.draw();
    }
    setSize() {}
    destroy() {
      this.rec.destroyed = true;
    }
  }
  return { default: FakeUPlot };
});

const { MetricChart, chartOptions, formatSeconds, formatStep, formatValue } = await import("./MetricChart");

afterEach(() => {
  cleanup();
  plots.length = 0;
  window.__latticePerf = [];
});

const colors = { fg: "#000000", grid: "#cccccc" };
const two = [
  { label: "#0 lr=0.1", color: "#0072b2" },
  { label: "#1 lr=0.2", color: "#d55e00", dash: [6, 3] },
];

describe("chartOptions", () => {
  it("draws one line per series with its label, colour and dash, spanning gaps", () => {
    const opts = chartOptions({ series: two, xMode: "step" }, colors);
    expect(opts.series).toHaveLength(3);
    expect(opts.series[1]).toMatchObject({ label: "#0 lr=0.1", stroke: "#0072b2", spanGaps: true });
    expect(opts.series[2]).toMatchObject({ dash: [6, 3] });
    expect(opts.series[1]).not.toHaveProperty("dash");
  });

  it("uses a log y scale, a time x scale for wall time, and the sync key", () => {
    const opts = chartOptions({ series: two, xMode: "wall", logScale: true, syncKey: "run:wall" }, colors);
    expect(opts.scales?.y).toEqual({ distr: 3, log: 10 });
    expect(opts.scales?.x).toEqual({ time: true });
    expect(opts.cursor?.sync?.key).toBe("run:wall");
    const linear = chartOptions({ series: two, xMode: "step" }, colors);
    expect(linear.scales?.y).toEqual({});
    expect(linear.scales?.x).toEqual({ time: false });
  });

  it("formats legend values in the chart's unit", () => {
    const opts = chartOptions({ series: two, xMode: "relative", valueFormat: "bytes" }, colors);
    const fake = {} as uPlot;
    expect(opts.series[1]!.value instanceof Function && opts.series[1]!.value(fake, 3 * 1024 * 1024, 1, 0)).toBe(
      "3 MiB",
    );
    expect(opts.series[0]!.value instanceof Function && opts.series[0]!.value(fake, 90, 0, 0)).toBe("1m30s");
    expect(opts.series[1]!.value instanceof Function && opts.series[1]!.value(fake, null as unknown as number, 1, 0))
      .toBe("–");
  });
});

describe("axis formats", () => {
  it("formats seconds, steps and values", () => {
    expect(formatSeconds(42.5)).toBe("42.5s");
    expect(formatSeconds(150)).toBe("2m30s");
    expect(formatSeconds(3600)).toBe("1h");
    expect(formatSeconds(3900)).toBe("1h05m");
    expect(formatStep(950)).toBe("950");
    expect(formatStep(12_000)).toBe("12k");
    expect(formatStep(1_500_000)).toBe("1.5M");
    expect(formatValue(55.5, "percent")).toBe("55.5%");
    expect(formatValue(NaN, "percent")).toBe("NaN");
    expect(formatValue(0.00012, "number")).toBe("1.2e-4");
  });
});

describe("MetricChart", () => {
  it("records what it drew on its root after each draw, marks it, and destroys the plot on unmount", () => {
    const data: uPlot.AlignedData = [
      [0, 1],
      [1, 2],
      [3, null],
    ];
    const { container, rerender, unmount } = render(
      <MetricChart metricKey="loss" data={data} series={two} lastValues='[2,"NaN"]' xMode="step" />,
    );
    const root = container.querySelector('[data-testid="metric-chart"]') as HTMLElement;
    expect(root.dataset.key).toBe("loss");
    expect(root.dataset.seriesCount).toBe("2");
    expect(JSON.parse(root.dataset.lastValues!)).toEqual([2, "NaN"]);
    expect(window.__latticePerf?.map((m) => m.name)).toContain("chart-drawn:loss");
    expect(plots).toHaveLength(1);

    const next: uPlot.AlignedData = [
      [0, 1, 2],
      [1, 2, 3],
      [3, null, 4],
    ];
    rerender(<MetricChart metricKey="loss" data={next} series={two} lastValues="[3,4]" xMode="step" />);
    expect(plots).toHaveLength(1); // new data goes into the same plot
    expect(plots[0]!.data).toBe(next);
    expect(root.dataset.lastValues).toBe("[3,4]");

    rerender(<MetricChart metricKey="loss" data={next} series={two} lastValues="[3,4]" xMode="step" logScale />);
    expect(plots).toHaveLength(2); // a new shape builds a new plot
    expect(plots[0]!.destroyed).toBe(true);
    unmount();
    expect(plots[1]!.destroyed).toBe(true);
  });
});
