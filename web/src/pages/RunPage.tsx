import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, isAbortError, type Schemas } from "../api/client";
import { isActiveState } from "../lib/format";
import { mark } from "../lib/perf";
import {
  allMetricKeys, defaultMetricKey, experimentColumns, experimentLabel, lastValues,
} from "../lib/experimentColumns";
import { ComparePanel } from "../components/ComparePanel";
import { ErrorBox } from "../components/ErrorBox";
import { ExperimentsTable } from "../components/ExperimentsTable";
import { useLoader, useThrottled } from "../components/hooks";
import { RunHeader } from "../components/RunHeader";

const DEFAULT_COMPARED = 5;

export function RunPage({ run: name }: { run: string }) {
  const runLoad = useLoader(name, (signal) => api.getRun(name, signal), null);
  const [override, setOverride] = useState<Schemas["Run"] | null>(null); // the answer of cancel, until reloaded
  const run = override ?? runLoad.data;
  const active = run !== null && isActiveState(run.state);
  const metricsLoad = useLoader(`${name}/metrics`, (signal) => api.getRunMetrics(name, undefined, signal),
    active ? 2000 : null);
  const metrics = metricsLoad.data;

  // Live: any change of the run brings its document again (at most once a second).
  const { reload } = runLoad;
  const refetch = useThrottled(() => {
    setOverride(null);
    reload();
  }, 1000);
  useEffect(() => {
    const ctl = new AbortController();
    let first = true;
    api
      .streamEvents({ run: name }, () => {
        if (first) {
          first = false; // the stream's first event is the state already loaded
          return;
        }
        refetch();
      }, ctl.signal)
      .catch((e: unknown) => {
        if (!isAbortError(e)) console.warn("run events:", e);
      });
    return () => ctl.abort();
  }, [name, refetch]);

  // A run that ended: its final metrics once more, then no more polling.
  const wasActive = useRef(false);
  const reloadMetrics = metricsLoad.reload;
  useEffect(() => {
    if (active) wasActive.current = true;
    else if (wasActive.current) {
      wasActive.current = false;
      reloadMetrics();
    }
  }, [active, reloadMetrics]);

  const columns = useMemo(
    () =>
      run === null ? { params: [], metrics: [], paramCells: [], metricCells: [] } : experimentColumns(run, metrics),
    [run, metrics],
  );
  const last = useMemo(() => lastValues(metrics), [metrics]);
  const keys = useMemo(() => allMetricKeys(metrics), [metrics]);

  const [selected, setSelected] = useState<Set<number> | null>(null);
  const chosen = useMemo(() => {
    if (selected !== null) return selected;
    return new Set((run?.experiments ?? []).slice(0, DEFAULT_COMPARED).map((e) => Number(e.id)));
  }, [selected, run]);
  const toggle = useCallback(
    (id: number) =>
      setSelected(() => {
        const next = new Set(chosen);
        if (next.has(id)) next.delete(id);
        else next.add(id);
        return next;
      }),
    [chosen],
  );

  const [key, setKey] = useState<string | null>(null);
  const metricKey = key !== null && keys.includes(key) ? key : defaultMetricKey(keys);

  // The chart gets the same array and labels objects until the selection really changes (a reload of the run
  // must not make it fetch its series again).
  const comparedKey = [...chosen].sort((a, b) => a - b).join(",");
  const compared = useMemo(() => (comparedKey === "" ? [] : comparedKey.split(",").map(Number)), [comparedKey]);
  const labelsText = useMemo(() => {
    const out: Record<number, string> = {};
    const params = run?.sweep.parameters ?? [];
    for (const e of run?.experiments ?? []) {
      const id = Number(e.id);
      if (chosen.has(id)) out[id] = experimentLabel(e, params);
    }
    return JSON.stringify(out);
  }, [run, chosen]);
  const labels = useMemo(() => JSON.parse(labelsText) as Record<number, string>, [labelsText]);

  const marked = useRef(false);
  useEffect(() => {
    if (run === null || marked.current) return;
    marked.current = true;
    mark("run-interactive");
  }, [run]);

  if (run === null) {
    return (
      <section className="page">
        <h1>{name}</h1>
        {runLoad.error !== null ? <ErrorBox error={runLoad.error} /> : <p>Loading…</p>}
      </section>
    );
  }
  return (
    <section className="page run-page">
      <RunHeader run={run} onChanged={setOverride} />
      <ErrorBox error={runLoad.error ?? metricsLoad.error} />
      <ComparePanel
        run={run.name}
        keys={keys}
        metricKey={metricKey}
        onKey={setKey}
        experiments={compared}
        labels={labels}
        live={active}
      />
      <ExperimentsTable run={run} columns={columns} last={last} selected={chosen} onToggle={toggle} />
    </section>
  );
}
