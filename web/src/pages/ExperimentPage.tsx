import { useEffect, useMemo, useState } from "react";
import { api, isAbortError } from "../api/client";
import { elapsedMs, formatDuration, formatTimestamp, isActiveState } from "../lib/format";
import { isSystemKey } from "../lib/experimentColumns";
import { runHref } from "../lib/router";
import { join } from "../lib/shellwords";
import { ArtifactsTable } from "../components/ArtifactsTable";
import { AttemptsTable } from "../components/AttemptsTable";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorBox } from "../components/ErrorBox";
import { useLoader, useNow, useThrottled } from "../components/hooks";
import { Link } from "../components/Link";
import { LogView } from "../components/LogView";
import { MetricPanel } from "../components/MetricPanel";
import { SystemMetrics } from "../components/SystemMetrics";

interface Props {
  run: string;
  experiment: number;
}

export function ExperimentPage({ run: name, experiment }: Props) {
  const runLoad = useLoader(name, (signal) => api.getRun(name, signal), null);
  const exp = runLoad.data?.experiments.find((e) => Number(e.id) === experiment) ?? null;
  const active = exp !== null && isActiveState(exp.state);
  const poll = active ? 2000 : null;
  const key = `${name}/${experiment}`;
  const attemptsLoad = useLoader(key, (s) => api.listAttempts(name, experiment, s), poll);
  const artifactsLoad = useLoader(key, (s) => api.listArtifacts(name, { experiment }, s), active ? 5000 : null);
  const metricsLoad = useLoader(key, (s) => api.getRunMetrics(name, experiment, s), poll);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const now = useNow(1000, active && exp?.started_at !== "");

  // Live: the run's events bring the experiment's state; on its end everything is read once more.
  const { reload } = runLoad;
  const refetch = useThrottled(reload, 1000);
  useEffect(() => {
    const ctl = new AbortController();
    api.streamEvents({ run: name, initial: 0 }, refetch, ctl.signal).catch((e: unknown) => {
      if (!isAbortError(e)) console.warn("run events:", e);
    });
    return () => ctl.abort();
  }, [name, refetch]);
  const [wasActive, setWasActive] = useState(false);
  const reloadAttempts = attemptsLoad.reload;
  const reloadArtifacts = artifactsLoad.reload;
  const reloadMetrics = metricsLoad.reload;
  useEffect(() => {
    if (active) setWasActive(true);
    else if (wasActive) {
      setWasActive(false);
      reloadAttempts();
      reloadArtifacts();
      reloadMetrics();
    }
  }, [active, wasActive, reloadAttempts, reloadArtifacts, reloadMetrics]);

  const only = useMemo(() => [experiment], [experiment]);
  const onlyLabel = useMemo(() => ({ [experiment]: `#${experiment}` }), [experiment]);
  const keys = useMemo(() => {
    const m = metricsLoad.data?.experiments[0]?.metrics ?? {};
    return Object.keys(m).filter((k) => !isSystemKey(k)).sort();
  }, [metricsLoad.data]);
  const hasSystem = useMemo(
    () => Object.keys(metricsLoad.data?.experiments[0]?.metrics ?? {}).some(isSystemKey),
    [metricsLoad.data],
  );

  const cancel = () => {
    setBusy(true);
    api.cancelExperiment(name, experiment).then(
      () => {
        setBusy(false);
        setConfirming(false);
        reload();
      },
      (e: unknown) => {
        setBusy(false);
        setConfirming(false);
        setActionError(e);
      },
    );
  };

  if (exp === null) {
    return (
      <section className="page">
        <h1>
          <Link href={runHref(name)}>{name}</Link> #{experiment}
        </h1>
        {runLoad.error !== null ? (
          <ErrorBox error={runLoad.error} />
        ) : runLoad.data !== null ? (
          <ErrorBox error={`${name} has no experiment ${experiment}`} />
        ) : (
          <p>Loading…</p>
        )}
      </section>
    );
  }

  const label = `#${exp.id}`;
  const params = Object.entries(exp.params);
  return (
    <section className="page experiment-page">
      <div className="run-header">
        <div className="title-row">
          <h1>
            <Link href={runHref(name)}>{name}</Link> <span className="muted">{label}</span>
          </h1>
          <span data-testid="experiment-state" className={`badge state-${exp.state}`}>
            {exp.state}
          </span>
          <span className="spacer-flex" />
          <button
            type="button"
            className="danger"
            data-testid="cancel-experiment"
            disabled={!active}
            onClick={() => setConfirming(true)}
          >
            Cancel experiment
          </button>
        </div>
        <dl className="facts">
          <div>
            <dt>Arguments</dt>
            <dd className="mono">{join(exp.args) || "none"}</dd>
          </div>
          {params.length > 0 && (
            <div>
              <dt>Parameters</dt>
              <dd className="mono">{params.map(([k, v]) => `${k}=${v}`).join(" ")}</dd>
            </div>
          )}
          <div>
            <dt>Node</dt>
            <dd>
              {exp.node ?? "not placed"}
              {exp.gpus.length > 0 ? ` · GPU ${exp.gpus.join(", ")}` : ""}
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{formatTimestamp(exp.started_at) || "not yet"}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{formatDuration(elapsedMs(exp.started_at, exp.ended_at, now))}</dd>
          </div>
          <div>
            <dt>Exit code</dt>
            <dd>{exp.exit_code ?? ""}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>
              {exp.attempts}
              {exp.restarts > 0 ? ` (${exp.restarts} lost and run again)` : ""}
            </dd>
          </div>
          {exp.reason !== "" && (
            <div>
              <dt>Reason</dt>
              <dd>{exp.reason}</dd>
            </div>
          )}
        </dl>
        <ErrorBox error={actionError ?? runLoad.error} />
      </div>

      <section className="panel" aria-labelledby="logs-title">
        <h2 id="logs-title">Output</h2>
        <LogView run={name} experiment={experiment} attempts={exp.attempts} active={active} />
      </section>

      <section className="panel" aria-labelledby="metrics-title">
        <h2 id="metrics-title">Metrics</h2>
        <ErrorBox error={metricsLoad.error} />
        {keys.length === 0 ? (
          <p className="hint">{metricsLoad.loading ? "Loading…" : "No metrics logged yet."}</p>
        ) : (
          <div className="charts">
            {keys.map((k) => (
              <MetricPanel
                key={k}
                run={name}
                metricKey={k}
                experiments={only}
                labels={onlyLabel}
                live={active}
              />
            ))}
          </div>
        )}
      </section>

      {(hasSystem || active) && (
        <section className="panel" aria-labelledby="system-title">
          <h2 id="system-title">System</h2>
          <SystemMetrics run={name} experiment={experiment} live={active} />
        </section>
      )}

      <section className="panel" aria-labelledby="artifacts-title">
        <h2 id="artifacts-title">Artifacts and checkpoints</h2>
        <ErrorBox error={artifactsLoad.error} />
        {artifactsLoad.data !== null && <ArtifactsTable artifacts={artifactsLoad.data.artifacts} />}
      </section>

      <section className="panel" aria-labelledby="attempts-title">
        <h2 id="attempts-title">Attempts</h2>
        <ErrorBox error={attemptsLoad.error} />
        {attemptsLoad.data !== null && <AttemptsTable attempts={attemptsLoad.data.attempts} />}
      </section>

      {confirming && (
        <ConfirmDialog
          title={`Cancel experiment ${exp.id} of ${name}?`}
          confirmLabel={busy ? "Cancelling…" : "Cancel experiment"}
          busy={busy}
          onConfirm={cancel}
          onCancel={() => setConfirming(false)}
        >
          <p>A queued experiment ends at once; a running one is stopped (SIGTERM, then SIGKILL).</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
