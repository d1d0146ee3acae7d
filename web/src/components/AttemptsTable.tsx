import type { Schemas } from "../api/client";
import { elapsedMs, formatDuration, formatTimestamp } from "../lib/format";
import { useNow } from "./hooks";
import { StateBadge } from "./StateBadge";

// Every attempt of an experiment (a lost node's attempt, then the one that ran again...), oldest first.
export function AttemptsTable({ attempts }: { attempts: Schemas["AttemptInfo"][] }) {
  const running = attempts.some((a) => a.ended_at === "" && a.started_at !== "");
  const now = useNow(1000, running);
  if (attempts.length === 0) return <p className="hint">No attempt yet: the experiment waits for a node.</p>;
  return (
    <div className="scroll-x" tabIndex={0} role="region" aria-label="Attempts">
      <table data-testid="attempts-table" className="grid">
        <thead>
          <tr>
            <th scope="col" className="num">
              #
            </th>
            <th scope="col">State</th>
            <th scope="col">Node</th>
            <th scope="col">GPUs</th>
            <th scope="col">Started</th>
            <th scope="col" className="num">
              Duration
            </th>
            <th scope="col" className="num">
              Exit code
            </th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((a) => (
            <tr key={a.number} data-testid="attempt-row">
              <td className="num">{a.number}</td>
              <td>
                <StateBadge state={a.state} />
              </td>
              <td>{a.nodes.length > 1 ? a.nodes.join(", ") : a.node}</td>
              <td>{a.gpus.length > 0 ? a.gpus.join(", ") : "none"}</td>
              <td>{formatTimestamp(a.started_at)}</td>
              <td className="num">{formatDuration(elapsedMs(a.started_at, a.ended_at, now))}</td>
              <td className="num">{a.exit_code ?? ""}</td>
              <td className="wrap">{a.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
