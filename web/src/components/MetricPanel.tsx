// One metric of some experiments, overlaid: fetches the points (downsampled by the server to about two per
// pixel), follows new ones while `live`, and lets the reader smooth, switch to a log scale, or change the x axis.

import { useEffect, useId, useMemo, useRef, useState } from "react";
import { api, isAbortError, type Schemas } from "../api/client";
import { mark } from "../lib/perf";
import { appendPoints, lastValuesJson, storeSeries, toChartData, type StoredSeries, type XMode } from "../lib/series";
import { MetricChart, usePrefersDark, type ChartSeries, type ValueFormat } from "./MetricChart";
import { seriesColor, seriesDash } from "./MetricChartPalette";
import { useMetricStreams } from "./MetricStreams";
import "./charts-logs.css";

export interface MetricPanelProps {
  run: string;
  metricKey: string;
  experiments: number[];
  /** A label per experiment (its id is added when the label lacks it). */
  labels?: Record<number, string>;
  live?: boolean;
  height?: number;
  /** Shown instead of the key. */
  title?: string;
}

/** Points asked per experiment: about two per pixel of plot width, within 500..4000. */
export function maxPointsFor(widthPx: number): number {
  const w = Number.isFinite(widthPx) ? widthPx : 0;
  return Math.min(4000, Math.max(500, Math.round(2 * w)));
}

/** A series' legend label; it always names the experiment. */
export function seriesLabel(experiment: number, label: string | undefined): string {
  const id = `#${experiment}`;
  if (label === undefined || label === "") return id;
  return new RegExp(`(^|\\s)${id}(\\s|$)`).test(label) ? label : `${id} ${label}`;
}

/** How a key's values read, from the unit its name ends with. */
export function valueFormatFor(key: string): ValueFormat {
  if (key.endsWith("_bytes")) return "bytes";
  if (key.endsWith("_percent")) return "percent";
  return "number";
}

/** The panel's notes under the chart: downsampling and the points it could not draw. */
export function panelNotes(stats: ReturnType<typeof toChartData>["stats"], logScale: boolean): string[] {
  let held = 0;
  let total = 0;
  let nonFinite = 0;
  let nonPositive = 0;
  for (const s of stats) {
    held += s.held;
    total += s.total;
    nonFinite += s.nonFinite;
    nonPositive += s.nonPositive;
  }
  const notes: string[] = [];
  if (total > held) notes.push(`${held.toLocaleString()} of ${total.toLocaleString()} points shown (downsampled)`);
  const points = (n: number) => `${n.toLocaleString()} ${n === 1 ? "point" : "points"}`;
  if (nonFinite > 0) notes.push(`${points(nonFinite)} NaN or infinite, not drawn`);
  if (logScale && nonPositive > 0) notes.push(`${points(nonPositive)} ≤ 0 left out of the log scale`);
  return notes;
}

// Once live points make a series this many times longer than asked, it is fetched again (downsampled).
const REFETCH_GROWTH = 2;
const REFETCH_MIN_INTERVAL_MS = 10_000;

export function MetricPanel({ run, metricKey, experiments, labels, live = false, height, title }: MetricPanelProps) {
  const isSystem = metricKey.startsWith("system/");
  const [smoothing, setSmoothing] = useState(isSystem ? 0 : 0.6);
  const [logScale, setLogScale] = useState(false);
  const [xMode, setXMode] = useState<XMode>("step");
  const [store, setStore] = useState<StoredSeries[] | null>(null);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [refetch, setRefetch] = useState(0);
  const rootRef = useRef<HTMLElement>(null);
  const lastFetch = useRef(0);
  const shownFor = useRef("");
  const dark = usePrefersDark();
  const hub = useMetricStreams();
  const ids = useId();
  const expKey = experiments.join(",");

  useEffect(() => {
    const exps = expKey === "" ? [] : expKey.split(",").map(Number);
    const identity = `${run}\n${metricKey}\n${expKey}`;
    if (shownFor.current !== identity) {
      // Another metric or other experiments: the old points must not stand in for them.
      shownFor.current = identity;
      setStore(null);
    }
    setError(null);
    const controller = new AbortController();
    const maxPoints = maxPointsFor(rootRef.current?.clientWidth ?? 0);
    let current: StoredSeries[] | null = null;
    const early: Schemas["MetricPoints"][] = [];
    let frame = 0;
    const redraw = () => {
      frame = 0;
      setVersion((v) => v + 1);
      const longest = Math.max(0, ...(current ?? []).map((s) => s.steps.length));
      const now = Date.now();
      if (longest > REFETCH_GROWTH * maxPoints && now - lastFetch.current > REFETCH_MIN_INTERVAL_MS) {
        setRefetch((n) => n + 1);
      }
    };
    let unsubscribe: (() => void) | null = null;
    if (live && exps.length > 0) {
      unsubscribe = hub.subscribe(
        run,
        exps.length === 1 ? exps[0] : undefined,
        (p) => {
          if (p.key !== metricKey) return;
          if (current === null) {
            early.push(p);
          } else if (appendPoints(current, p, exps) && frame === 0) {
            // Many batches may arrive per frame; the chart is redrawn once.
            frame = requestAnimationFrame(redraw);
          }
        },
        (message) => setError(`live updates stopped: ${message}`),
      );
    }
    if (exps.length > 0) {
      lastFetch.current = Date.now();
      api
        .getMetricSeries(
          run,
          { key: metricKey, experiments: exps, max_points: maxPoints, method: "lttb" },
          controller.signal,
        )
        .then((list) => {
          mark(`chart-data:${metricKey}`);
          const s = storeSeries(list.series, exps);
          for (const p of early) appendPoints(s, p, exps);
          current = s;
          setStore(s);
          setVersion((v) => v + 1);
        })
        .catch((e: unknown) => {
          if (!isAbortError(e)) setError(e instanceof Error ? e.message : String(e));
        });
    } else {
      setStore([]);
    }
    return () => {
      controller.abort();
      unsubscribe?.();
      if (frame !== 0) cancelAnimationFrame(frame);
    };
  }, [run, metricKey, expKey, live, refetch, hub]);

  const chart = useMemo(
    () => (store === null ? null : toChartData(store, { xMode, smoothing, logScale })),
    // `version` changes when live points were appended to `store` in place (copying it per batch would cost
    // more than the chart itself).
    [store, version, xMode, smoothing, logScale],
  );

  const labelsKey = JSON.stringify(labels ?? {});
  const series = useMemo((): ChartSeries[] => {
    if (chart === null) return [];
    const named: Record<number, string> = JSON.parse(labelsKey) as Record<number, string>;
    return chart.stats.map((s) => {
      const at = Math.max(0, experiments.indexOf(s.experiment));
      const label = seriesLabel(s.experiment, named[s.experiment]);
      return { label, color: seriesColor(at, dark), dash: seriesDash(at) };
    });
    // `expKey` stands for `experiments`, a new array at each render of some callers.
  }, [chart, labelsKey, expKey, dark]);

  const notes = chart === null ? [] : panelNotes(chart.stats, logScale);
  const heading = title ?? metricKey;

  return (
    <section ref={rootRef} className="metric-panel" aria-label={`Chart of ${heading}`}>
      <div className="metric-panel-head">
        <h3 className="metric-panel-title" title={metricKey}>
          {heading}
        </h3>
        <div className="metric-panel-controls">
          <label htmlFor={`${ids}-smooth`}>Smoothing</label>
          <input
            id={`${ids}-smooth`}
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            onChange={(e) => setSmoothing(Number(e.target.value))}
          />
          <span className="metric-panel-smoothing-value" aria-hidden="true">
            {smoothing.toFixed(2)}
          </span>
          <label>
            <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} />
            Log scale
          </label>
          <label>
            X axis
            <select value={xMode} onChange={(e) => setXMode(e.target.value as XMode)}>
              <option value="step">{isSystem ? "seconds since start" : "step"}</option>
              <option value="relative">relative time</option>
              <option value="wall">wall time</option>
            </select>
          </label>
        </div>
      </div>
      {error !== null && <p className="metric-panel-note metric-panel-error">{error}</p>}
      {chart === null ? (
        <div className="metric-chart-empty" style={{ height: height ?? 240 }}>
          {error === null ? "loading…" : ""}
        </div>
      ) : (
        <>
          <MetricChart
            metricKey={metricKey}
            data={chart.data}
            series={series}
            lastValues={lastValuesJson(chart.stats)}
            xMode={xMode}
            logScale={logScale}
            valueFormat={valueFormatFor(metricKey)}
            syncKey={`${run}:${xMode}`}
            stepsAreSeconds={isSystem}
            {...(height !== undefined ? { height } : {})}
          />
          {chart.stats.length === 0 && <p className="metric-panel-note">no points yet</p>}
          {notes.map((n) => (
            <p key={n} className="metric-panel-note">
              {n}
            </p>
          ))}
        </>
      )}
    </section>
  );
}

export default MetricPanel;
