// A uPlot line chart of one metric: presentational, it draws the data it is given. The plot is created once per
// shape (series, axes, scale) and fed new data in place, sized to its container, and destroyed on unmount.
// After every draw it records what it drew on its root element (for tests and benchmarks) and a perf mark.

import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatBytes } from "../lib/format";
import { formatMetric } from "../lib/metricValue";
import { mark } from "../lib/perf";
import type { XMode } from "../lib/series";
import "./charts-logs.css";

/** How the y values read: plain numbers, bytes (KiB, MiB...), or percentages. */
export type ValueFormat = "number" | "bytes" | "percent";

export interface ChartSeries {
  label: string;
  color: string;
  dash?: number[] | undefined;
}

export interface MetricChartProps {
  metricKey: string;
  data: uPlot.AlignedData;
  series: readonly ChartSeries[];
  /** JSON array of each series' last raw (unsmoothed) value, for the root's data-last-values. */
  lastValues: string;
  xMode: XMode;
  logScale?: boolean;
  valueFormat?: ValueFormat;
  height?: number;
  /** Charts with one key move their cursors together. */
  syncKey?: string;
  /** The steps are seconds (system metrics count seconds since the attempt started). */
  stepsAreSeconds?: boolean;
}

const DARK_QUERY = "(prefers-color-scheme: dark)";

/** Whether the page is shown in a dark colour scheme, following changes. */
export function usePrefersDark(): boolean {
  const [dark, setDark] = useState(
    () => typeof window.matchMedia === "function" && window.matchMedia(DARK_QUERY).matches,
  );
  useEffect(() => {
    if (typeof window.matchMedia !== "function") return;
    const mq = window.matchMedia(DARK_QUERY);
    const onChange = () => setDark(mq.matches);
    mq.addEventListener("change", onChange);
    return () => mq.removeEventListener("change", onChange);
  }, []);
  return dark;
}

/** Seconds as a short axis label: "45s", "2m30s", "1h05m". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "";
  const sign = s < 0 ? "-" : "";
  const a = Math.abs(s);
  if (a < 60) return `${sign}${Number(a.toPrecision(3))}s`;
  const total = Math.round(a);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (h === 0) return sec === 0 ? `${sign}${m}m` : `${sign}${m}m${two(sec)}s`;
  return m === 0 ? `${sign}${h}h` : `${sign}${h}h${two(m)}m`;
}

/** A step count as a short axis label: 950, 12k, 1.5M. */
export function formatStep(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${Number((n / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((n / 1e3).toPrecision(3))}k`;
  return String(Number(n.toPrecision(6)));
}

/** A y value as text in the chart's format. */
export function formatValue(v: number, format: ValueFormat): string {
  if (format === "bytes" && Number.isFinite(v) && v >= 0) return formatBytes(v);
  const text = formatMetric(v);
  return format === "percent" && Number.isFinite(v) ? `${text}%` : text;
}

/** The chart's uPlot options (without size and hooks), a pure function of its shape and colours. */
export function chartOptions(
  props: Pick<MetricChartProps, "series" | "xMode" | "logScale" | "valueFormat" | "syncKey" | "stepsAreSeconds">,
  colors: { fg: string; grid: string },
): Omit<uPlot.Options, "width" | "height"> {
  const format = props.valueFormat ?? "number";
  const seconds = props.stepsAreSeconds === true;
  const xLabel =
    props.xMode === "step" ? (seconds ? "since start" : "step") : props.xMode === "relative" ? "time" : "wall time";
  const fmtX = (v: number): string => {
    if (props.xMode === "step") return seconds ? formatSeconds(v) : formatStep(v);
    if (props.xMode === "relative") return formatSeconds(v);
    return new Date(v * 1000).toLocaleString();
  };
  const axis = (values?: uPlot.Axis["values"]): uPlot.Axis => {
    const a: uPlot.Axis = {
      stroke: colors.fg,
      grid: { stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid, width: 1 },
    };
    if (values !== undefined) a.values = values;
    return a;
  };
  const yAxis = axis((_u, splits) => splits.map((v) => formatValue(v, format)));
  // Wide enough for the longest tick label (uPlot's fixed default clips "1.234e-5").
  yAxis.size = (_u, values) => {
    let longest = 3;
    for (const v of values ?? []) longest = Math.max(longest, v.length);
    return longest * 7 + 18;
  };
  const opts: Omit<uPlot.Options, "width" | "height"> = {
    scales: {
      x: { time: props.xMode === "wall" },
      y: props.logScale === true ? { distr: 3, log: 10 } : {},
    },
    series: [
      { label: xLabel, value: (_u, v) => (v === null || v === undefined ? "–" : fmtX(v)) },
      ...props.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          spanGaps: true,
          ...(s.dash !== undefined ? { dash: s.dash } : {}),
          value: (_u, v) => (v === null || v === undefined ? "–" : formatValue(v, format)),
        }),
      ),
    ],
    axes: [props.xMode === "wall" ? axis() : axis((_u, splits) => splits.map(fmtX)), yAxis],
    legend: { live: true },
    cursor: props.syncKey !== undefined ? { sync: { key: props.syncKey } } : {},
  };
  return opts;
}

function cssColor(el: Element, name: string, fallback: string): string {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v === "" ? fallback : v;
}

export function MetricChart(props: MetricChartProps) {
  const { metricKey, data, series, lastValues, xMode, logScale, valueFormat, syncKey, stepsAreSeconds } = props;
  const height = props.height ?? 240;
  const dark = usePrefersDark();
  const rootRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const shownData = useRef<uPlot.AlignedData | null>(null);
  // The draw hook reads the newest props, not those of the render that created the plot.
  const latest = useRef({ metricKey, seriesCount: series.length, lastValues, data });
  latest.current = { metricKey, seriesCount: series.length, lastValues, data };

  const shape = JSON.stringify({ series, xMode, logScale, valueFormat, syncKey, stepsAreSeconds, height, dark });

  useEffect(() => {
    const root = rootRef.current;
    if (root === null) return;
    const colors = {
      fg: cssColor(root, "--log-fg", dark ? "#e6edf3" : "#1f2328"),
      grid: cssColor(root, "--log-border", dark ? "#3d444d" : "#d0d7de"),
    };
    const opts: uPlot.Options = {
      ...chartOptions({ series, xMode, logScale, valueFormat, syncKey, stepsAreSeconds }, colors),
      width: Math.max(200, root.clientWidth || 600),
      height,
      hooks: {
        draw: [
          () => {
            const now = latest.current;
            root.dataset.seriesCount = String(now.seriesCount);
            root.dataset.lastValues = now.lastValues;
            mark(`chart-drawn:${now.metricKey}`);
          },
        ],
      },
    };
    shownData.current = latest.current.data;
    const plot = new uPlot(opts, shownData.current, root);
    plotRef.current = plot;
    let ro: ResizeObserver | null = null;
    if (typeof ResizeObserver !== "undefined") {
      ro = new ResizeObserver(() => {
        const width = Math.max(200, root.clientWidth);
        if (width !== plot.width) plot.setSize({ width, height });
      });
      ro.observe(root);
    }
    return () => {
      ro?.disconnect();
      plot.destroy();
      plotRef.current = null;
    };
    // Rebuilt only when the shape changes (`shape` stands for the values read above); data goes in below.
  }, [shape]);

  useEffect(() => {
    const plot = plotRef.current;
    if (plot === null || shownData.current === data) return;
    shownData.current = data;
    // Keep a zoom the reader made while new points arrive; otherwise fit the new data.
    const xs = plot.data[0];
    const min = plot.scales.x?.min;
    const max = plot.scales.x?.max;
    const first = xs[0];
    const last = xs[xs.length - 1];
    const zoomed =
      min !== undefined && max !== undefined && first !== undefined && last !== undefined &&
      (min > first || max < last);
    plot.setData(data, !zoomed);
  }, [data]);

  return (
    <div
      ref={rootRef}
      className="metric-chart"
      data-testid="metric-chart"
      data-key={metricKey}
      style={{ minHeight: height }}
    />
  );
}

export default MetricChart;
