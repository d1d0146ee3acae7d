// An experiment's system metrics (CPU, memory, and each GPU's utilisation and memory, sampled by the agent with
// seconds since the attempt started as step): one small unsmoothed chart per key, found in the run's metrics.

import { useEffect, useState } from "react";
import { api, isAbortError } from "../api/client";
import { MetricPanel } from "./MetricPanel";
import "./charts-logs.css";

export interface SystemMetricsProps {
  run: string;
  experiment: number;
  /** Look for keys that appear later (a GPU's first sample) and follow new points. */
  live?: boolean;
}

const SYSTEM_PREFIX = "system/";
const GPU_KEY = /^system\/gpu(\d+)\/(.+)$/;
const NAMES: Record<string, string> = {
  cpu_percent: "CPU %",
  memory_rss_bytes: "Memory (RSS)",
  utilization_percent: "utilisation %",
  memory_used_bytes: "memory used",
};
// Where keys without a GPU go; GPU keys follow, by GPU index and then by name.
const ORDER = ["cpu_percent", "memory_rss_bytes", "utilization_percent", "memory_used_bytes"];

/** A chart title for a system metric key. */
export function systemTitle(key: string): string {
  const gpu = GPU_KEY.exec(key);
  if (gpu !== null) return `GPU ${gpu[1]} ${NAMES[gpu[2]!] ?? gpu[2]!}`;
  const name = key.startsWith(SYSTEM_PREFIX) ? key.slice(SYSTEM_PREFIX.length) : key;
  return NAMES[name] ?? name;
}

function sortKey(key: string): [number, number, string] {
  const gpu = GPU_KEY.exec(key);
  const name = gpu !== null ? gpu[2]! : key.slice(SYSTEM_PREFIX.length);
  const at = ORDER.indexOf(name);
  return [gpu === null ? -1 : Number(gpu[1]), at === -1 ? ORDER.length : at, name];
}

/** The system keys among `keys`: host metrics first, then each GPU's, in a fixed order. */
export function systemKeys(keys: Iterable<string>): string[] {
  const out = [...keys].filter((k) => k.startsWith(SYSTEM_PREFIX));
  return out.sort((a, b) => {
    const [ga, oa, na] = sortKey(a);
    const [gb, ob, nb] = sortKey(b);
    return ga - gb || oa - ob || (na < nb ? -1 : na > nb ? 1 : 0);
  });
}

const POLL_MS = 5000;

export function SystemMetrics({ run, experiment, live = false }: SystemMetricsProps) {
  const [keys, setKeys] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setKeys(null);
    setError(null);
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const m = await api.getRunMetrics(run, experiment, controller.signal);
        const mine = m.experiments.find((e) => e.experiment === experiment);
        const found = systemKeys(Object.keys(mine?.metrics ?? {}));
        // Same keys: keep the old array, so the charts are left alone.
        setKeys((prev) => (prev !== null && prev.join("\n") === found.join("\n") ? prev : found));
        setError(null);
      } catch (e) {
        if (isAbortError(e)) return;
        setError(e instanceof Error ? e.message : String(e));
      }
      if (live && !controller.signal.aborted) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [run, experiment, live]);

  return (
    <div className="system-metrics" data-testid="system-metrics">
      {error !== null && <p className="metric-panel-error">{error}</p>}
      {keys === null && error === null && <p className="system-metrics-empty">loading…</p>}
      {keys !== null && keys.length === 0 && <p className="system-metrics-empty">no system metrics yet</p>}
      {keys?.map((k) => (
        <MetricPanel
          key={k}
          run={run}
          metricKey={k}
          experiments={[experiment]}
          live={live}
          height={160}
          title={systemTitle(k)}
        />
      ))}
    </div>
  );
}

export default SystemMetrics;
