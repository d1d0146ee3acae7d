// Metric series as the charts need them. The API gives each experiment's points (steps, times, values) on its
// own; uPlot wants one shared, ascending x array with one y array per series, null where a series has no point.
// Live points are appended as they stream in, and a resumed attempt that logs steps again replaces them.

import type uPlot from "uplot";
import { smooth } from "./smoothing";
import { toNumber, type RawMetricValue } from "./metricValue";

/** What the x axis shows: the step, seconds since the series' first point, or the wall-clock time. */
export type XMode = "step" | "relative" | "wall";

/** One experiment's points as the API sends them (a MetricSeries or MetricPoints). */
export interface PointsInput {
  readonly experiment: number;
  readonly steps: readonly number[];
  readonly times: readonly number[];
  readonly values: readonly RawMetricValue[];
}

/** One experiment's points, held for drawing; `values` may hold NaN and infinities. */
export interface StoredSeries {
  readonly experiment: number;
  /** Points the experiment logged in total (before downsampling), as far as known. */
  total: number;
  steps: number[];
  times: number[];
  values: number[];
}

/** The series of a fetched MetricSeriesList, in the order given by `experiments` (those without points left out). */
export function storeSeries(
  list: readonly (PointsInput & { readonly total: number })[],
  experiments: readonly number[],
): StoredSeries[] {
  const byExperiment = new Map(list.map((s) => [s.experiment, s]));
  const out: StoredSeries[] = [];
  for (const e of experiments) {
    const s = byExperiment.get(e);
    if (s === undefined) continue;
    const n = Math.min(s.steps.length, s.times.length, s.values.length);
    out.push({
      experiment: e,
      total: s.total,
      steps: s.steps.slice(0, n),
      times: s.times.slice(0, n),
      values: s.values.slice(0, n).map(toNumber),
    });
  }
  return out;
}

/** The first index in ascending `a` whose value is >= x. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Appends streamed points to `store` (in place), keeping each series in step order. A point whose step is not
 * after the last one stored starts a rewrite: the stored points from that step on are dropped first (a resumed
 * attempt logs those steps again). Points of experiments not in `experiments` are ignored; a wanted experiment
 * seen for the first time gets a series, placed in the order of `experiments`. Returns whether anything changed.
 */
export function appendPoints(store: StoredSeries[], points: PointsInput, experiments: readonly number[]): boolean {
  const rank = experiments.indexOf(points.experiment);
  if (rank === -1) return false;
  const n = Math.min(points.steps.length, points.times.length, points.values.length);
  if (n === 0) return false;
  let series = store.find((s) => s.experiment === points.experiment);
  if (series === undefined) {
    series = { experiment: points.experiment, total: 0, steps: [], times: [], values: [] };
    const at = store.findIndex((s) => experiments.indexOf(s.experiment) > rank);
    store.splice(at === -1 ? store.length : at, 0, series);
  }
  for (let i = 0; i < n; i++) {
    const step = points.steps[i]!;
    const last = series.steps[series.steps.length - 1];
    if (last !== undefined && step <= last) {
      const cut = lowerBound(series.steps, step);
      series.total = Math.max(0, series.total - (series.steps.length - cut));
      series.steps.length = cut;
      series.times.length = cut;
      series.values.length = cut;
    }
    series.steps.push(step);
    series.times.push(points.times[i]!);
    series.values.push(toNumber(points.values[i]!));
    series.total++;
  }
  return true;
}

export interface ChartOptions {
  xMode: XMode;
  /** Smoothing weight, 0..0.999 (see smoothing.ts). */
  smoothing: number;
  /** A log y axis cannot show values <= 0: they are left out (and counted). */
  logScale: boolean;
}

export interface SeriesStats {
  readonly experiment: number;
  readonly total: number;
  /** Points held (after the server's downsampling, plus those streamed since). */
  readonly held: number;
  /** Points on the chart. */
  readonly drawn: number;
  /** Points left out as NaN or infinite. */
  readonly nonFinite: number;
  /** Points left out as <= 0 on a log scale. */
  readonly nonPositive: number;
  /** The last value logged, unsmoothed (NaN when there is none). */
  readonly lastRaw: number;
}

export interface ChartData {
  readonly data: uPlot.AlignedData;
  readonly stats: readonly SeriesStats[];
}

function xValues(s: StoredSeries, mode: XMode): number[] {
  if (mode === "step") return s.steps;
  if (mode === "wall") return s.times;
  const t0 = s.times[0] ?? 0;
  return s.times.map((t) => t - t0);
}

/**
 * uPlot's data for `store`: the union of the series' x values, ascending, and per series its y at each x (null
 * where it has no point, or where its point cannot be drawn: NaN, infinite, or <= 0 on a log scale).
 */
export function toChartData(store: readonly StoredSeries[], opts: ChartOptions): ChartData {
  const xs = store.map((s) => xValues(s, opts.xMode));
  let total = 0;
  for (const x of xs) total += x.length;
  const all = new Float64Array(total);
  let k = 0;
  for (const x of xs) {
    all.set(x, k);
    k += x.length;
  }
  all.sort();
  const union: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const v = all[i]!;
    if (Number.isFinite(v) && (union.length === 0 || union[union.length - 1] !== v)) union.push(v);
  }
  const ys: (number | null)[][] = [];
  const stats: SeriesStats[] = [];
  store.forEach((s, si) => {
    const x = xs[si]!;
    const smoothed = smooth(s.values, opts.smoothing);
    const y = new Array<number | null>(union.length).fill(null);
    let nonFinite = 0;
    let nonPositive = 0;
    let drawn = 0;
    // x is ascending in step mode; times usually are too, so walk a cursor and search only when they are not.
    let cursor = 0;
    for (let i = 0; i < x.length; i++) {
      const xi = x[i]!;
      if (!Number.isFinite(xi)) continue;
      if (union[cursor]! < xi) while (union[cursor]! < xi) cursor++;
      else if (union[cursor] !== xi) cursor = lowerBound(union, xi);
      const v = smoothed[i] ?? NaN;
      const raw = s.values[i]!;
      if (!Number.isFinite(raw) || !Number.isFinite(v)) {
        nonFinite++;
        y[cursor] = null;
      } else if (opts.logScale && v <= 0) {
        nonPositive++;
        y[cursor] = null;
      } else {
        if (y[cursor] === null) drawn++;
        y[cursor] = v;
      }
    }
    ys.push(y);
    stats.push({
      experiment: s.experiment,
      total: Math.max(s.total, s.values.length),
      held: s.values.length,
      drawn,
      nonFinite,
      nonPositive,
      lastRaw: s.values[s.values.length - 1] ?? NaN,
    });
  });
  return { data: [union, ...ys], stats };
}

/** The data-last-values attribute: each series' last raw value, NaN and infinities as the API writes them. */
export function lastValuesJson(stats: readonly SeriesStats[]): string {
  return JSON.stringify(stats.map((s) => (Number.isFinite(s.lastRaw) ? s.lastRaw : String(s.lastRaw))));
}
