// The experiments table's columns and cells: fixed ones, one per swept parameter, one per metric key (the last
// value). Pure, so that sorting and filtering see exactly what is shown.
import type { Schemas } from "../api/client";
import { elapsedMs } from "./format";
import { toNumber } from "./metricValue";
import type { Cell } from "./sort";

type Experiment = Schemas["Experiment"];
type RunMetrics = Schemas["RunMetrics"];

export const FIXED_BEFORE = ["id", "state"] as const;
export const FIXED_AFTER = ["node", "attempts", "duration", "reason"] as const;

export interface ExperimentColumns {
  params: string[]; // swept parameter names, in the sweep's order
  metrics: string[]; // metric keys shown (not system/ ones), sorted
  // The name each one's cell has in filters and sorting: its own, lower-cased, unless a fixed column or (for a
  // metric) a parameter has it already, then `param.NAME` or `metric.KEY`.
  paramCells: string[];
  metricCells: string[];
}

export function isSystemKey(key: string): boolean {
  return key.startsWith("system/");
}

export function experimentColumns(run: Schemas["Run"], metrics: RunMetrics | null): ExperimentColumns {
  const params = [...run.sweep.parameters];
  const seen = new Set(params);
  for (const e of run.experiments) {
    for (const name of Object.keys(e.params)) {
      if (!seen.has(name)) {
        seen.add(name);
        params.push(name);
      }
    }
  }
  const keys = new Set<string>();
  for (const e of metrics?.experiments ?? []) {
    for (const key of Object.keys(e.metrics)) if (!isSystemKey(key)) keys.add(key);
  }
  const metricKeys = [...keys].sort();
  const taken = new Set<string>([...FIXED_BEFORE, ...FIXED_AFTER]);
  const claim = (name: string, prefix: string) => {
    const lower = name.toLowerCase();
    const cell = taken.has(lower) ? `${prefix}.${lower}` : lower;
    taken.add(cell);
    return cell;
  };
  const paramCells = params.map((p) => claim(p, "param"));
  const metricCells = metricKeys.map((m) => claim(m, "metric"));
  return { params, metrics: metricKeys, paramCells, metricCells };
}

// Every metric key of the run, non-system ones first (for the compare chart's key).
export function allMetricKeys(metrics: RunMetrics | null): string[] {
  const keys = new Set<string>();
  for (const e of metrics?.experiments ?? []) for (const key of Object.keys(e.metrics)) keys.add(key);
  const list = [...keys].sort();
  return [...list.filter((k) => !isSystemKey(k)), ...list.filter(isSystemKey)];
}

// The key a chart starts with: `loss` when there is one, else the first non-system key, else the first.
export function defaultMetricKey(keys: readonly string[]): string | null {
  if (keys.includes("loss")) return "loss";
  return keys.find((k) => !isSystemKey(k)) ?? keys[0] ?? null;
}

// Last values by experiment index, then key.
export function lastValues(metrics: RunMetrics | null): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (const e of metrics?.experiments ?? []) {
    const m = new Map<string, number>();
    for (const [key, summary] of Object.entries(e.metrics)) m.set(key, toNumber(summary.last));
    out.set(e.experiment, m);
  }
  return out;
}

// The cells of one experiment, by lower-case name (what filters use): fixed columns, params, metrics.
export function experimentCells(
  e: Experiment,
  cols: ExperimentColumns,
  last: Map<string, number> | undefined,
  now: number,
): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  cols.params.forEach((name, i) => cells.set(cols.paramCells[i] ?? name, e.params[name]));
  cols.metrics.forEach((key, i) => cells.set(cols.metricCells[i] ?? key, last?.get(key)));
  cells.set("id", Number(e.id));
  cells.set("state", e.state);
  cells.set("node", e.node ?? "");
  cells.set("attempts", e.attempts);
  const ms = elapsedMs(e.started_at, e.ended_at, now);
  cells.set("duration", ms === null ? null : ms / 1000);
  cells.set("reason", e.reason);
  return cells;
}

// "#3 lr=0.01 bs=64": how an experiment is named in chart legends.
export function experimentLabel(e: Experiment, params: readonly string[]): string {
  const parts = params.filter((p) => e.params[p] !== undefined).map((p) => `${p}=${e.params[p]}`);
  return [`#${e.id}`, ...parts].join(" ");
}
