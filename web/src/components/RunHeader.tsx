import { useState } from "react";
import { api, type Schemas } from "../api/client";
import { countStates, elapsedMs, formatDuration, formatMoney, formatTimestamp, isActiveState } from "../lib/format";
import { runHref, navigate } from "../lib/router";
import { join } from "../lib/shellwords";
import { ConfirmDialog } from "./ConfirmDialog";
import { ErrorBox } from "./ErrorBox";
import { useLoader, useNow } from "./hooks";
import { RerunForm } from "./RerunForm";
import { StateCounts } from "./StateBadge";

function runTimes(run: Schemas["Run"]): { started: string; ended: string } {
  let started = "";
  let ended = "";
  let allEnded = run.experiments.length > 0;
  for (const e of run.experiments) {
    if (e.started_at !== "" && (started === "" || e.started_at < started)) started = e.started_at;
    if (e.ended_at === "") allEnded = false;
    else if (e.ended_at > ended) ended = e.ended_at;
  }
  return { started, ended: allEnded ? ended : "" };
}

// "$1.20 of $50.00 · $4.10/h now", or "free" on an unpriced cluster (docs/cost.md).
export function describeCost(c: Schemas["RunCost"]): string {
  if (c.cost === 0 && c.rate_per_hour === 0 && c.price_per_node_hour === 0) return "free";
  let text = formatMoney(c.cost);
  if (c.max_cost > 0) text += ` of ${formatMoney(c.max_cost)}`;
  if (c.rate_per_hour > 0) text += ` · ${formatMoney(c.rate_per_hour)}/h now`;
  return text;
}

// The run's state, what it runs and where, and its actions (cancel, rerun).
export function RunHeader({ run, onChanged }: { run: Schemas["Run"]; onChanged: (r: Schemas["Run"]) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [rerunning, setRerunning] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const active = isActiveState(run.state);
  const { started, ended } = runTimes(run);
  const now = useNow(1000, active && started !== "");
  // Reloaded on every change of the run's state, and every 5 s while it accrues.
  const cost = useLoader(`${run.name}/cost/${run.state}`, (signal) => api.getRunCost(run.name, signal),
    active ? 5000 : null);

  const cancel = () => {
    setBusy(true);
    api.cancelRun(run.name).then(
      (r) => {
        setBusy(false);
        setConfirming(false);
        onChanged(r);
      },
      (e: unknown) => {
        setBusy(false);
        setConfirming(false);
        setError(e);
      },
    );
  };

  const gpus = run.resources.gpus;
  return (
    <div className="run-header">
      <div className="title-row">
        <h1>{run.name}</h1>
        <span data-testid="run-state" className={`badge state-${run.state}`}>
          {run.state}
        </span>
        <StateCounts counts={countStates(run.experiments)} />
        <span className="spacer-flex" />
        <button type="button" data-testid="rerun" onClick={() => setRerunning((v) => !v)} aria-expanded={rerunning}>
          Rerun…
        </button>
        <button
          type="button"
          className="danger"
          data-testid="cancel-run"
          disabled={!active}
          onClick={() => setConfirming(true)}
        >
          Cancel run
        </button>
      </div>
      {run.description !== "" && <p className="description">{run.description}</p>}
      <dl className="facts">
        <div className="wide">
          <dt>Command</dt>
          <dd className="mono">
            {run.script} {join(run.args)}
          </dd>
        </div>
        <div>
          <dt>Cluster</dt>
          <dd>{run.cluster}</dd>
        </div>
        <div>
          <dt>Resources</dt>
          <dd>
            {gpus > 0 ? `${gpus} GPU${gpus === 1 ? "" : "s"}` : "CPU"}
            {run.nodes > 1 ? ` × ${run.nodes} nodes` : ""}
          </dd>
        </div>
        <div>
          <dt>Submitted</dt>
          <dd>{formatTimestamp(run.created_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(elapsedMs(started, ended, now)) || "not started"}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="run-cost">{cost.data ? describeCost(cost.data) : "…"}</dd>
        </div>
        {run.sweep.parameters.length > 0 && (
          <div>
            <dt>Sweep</dt>
            <dd>
              {run.sweep.strategy.replace("_", " ")} over {run.sweep.parameters.join(", ")}
            </dd>
          </div>
        )}
      </dl>
      <ErrorBox error={error} />
      {rerunning && (
        <RerunForm
          run={run}
          onClose={() => setRerunning(false)}
          onDone={(created) => {
            setRerunning(false);
            navigate(runHref(created.name));
          }}
        />
      )}
      {confirming && (
        <ConfirmDialog
          title={`Cancel ${run.name}?`}
          confirmLabel={busy ? "Cancelling…" : "Cancel run"}
          busy={busy}
          onConfirm={cancel}
          onCancel={() => setConfirming(false)}
        >
          <p>Queued experiments end at once; running ones are stopped (SIGTERM, then SIGKILL).</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
