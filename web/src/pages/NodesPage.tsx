import { api, type Schemas } from "../api/client";
import { formatBytes, formatTimestamp } from "../lib/format";
import { experimentHref } from "../lib/router";
import { ErrorBox } from "../components/ErrorBox";
import { useLoader } from "../components/hooks";
import { Link } from "../components/Link";
import { StateBadge } from "../components/StateBadge";

// "2 × NVIDIA H100 (80 GiB)"; GPUs of different models are listed apart.
export function gpuSummary(gpus: readonly Schemas["Gpu"][]): string {
  const groups = new Map<string, number>();
  for (const g of gpus) {
    const key = `${g.name || "GPU"}${g.memory_bytes > 0 ? ` (${formatBytes(g.memory_bytes)})` : ""}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([name, n]) => `${n} × ${name}`).join(", ");
}

function NodeRow({ node }: { node: Schemas["Node"] }) {
  return (
    <tr data-testid="node-row" data-node={node.id}>
      <td>
        <strong>{node.id}</strong>
      </td>
      <td>{node.hostname}</td>
      <td>{node.cluster}</td>
      <td>
        <StateBadge state={node.state} />
        {node.state !== "ready" && node.reason !== "" && <div className="reason">{node.reason}</div>}
        {node.state !== "ready" && <div className="muted">last seen {formatTimestamp(node.last_seen)}</div>}
      </td>
      <td className="num">{node.cpus}</td>
      <td className="num">{formatBytes(node.memory_bytes)}</td>
      <td>{node.gpus.length === 0 ? "none" : gpuSummary(node.gpus)}</td>
      <td className="wrap">{node.allocation || <span className="muted">by hand</span>}</td>
      <td>
        {node.running.length === 0 ? (
          <span className="muted">idle</span>
        ) : (
          <ul className="plain">
            {node.running.map((w) => (
              <li key={`${w.run}/${w.experiment}/${w.attempt}`}>
                <Link href={experimentHref(w.run, w.experiment)}>
                  {w.run} #{w.experiment}
                </Link>
                {w.attempt > 1 && <span className="muted"> attempt {w.attempt}</span>}
                {w.gpus.length > 0 && <span className="muted"> · GPU {w.gpus.join(", ")}</span>}
              </li>
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

export function NodesPage() {
  const nodes = useLoader("nodes", (signal) => api.listNodes(signal), 2000);
  const list = nodes.data?.nodes ?? [];
  return (
    <section className="page nodes-page">
      <div className="toolbar">
        <h1>Nodes</h1>
        <span className="total">
          {nodes.data === null ? "Loading…" : `${list.length} ${list.length === 1 ? "node" : "nodes"}`}
        </span>
      </div>
      <ErrorBox error={nodes.error} />
      <div className="scroll-x" tabIndex={0} role="region" aria-label="Nodes">
        <table data-testid="nodes-table" className="grid">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Host</th>
              <th scope="col">Cluster</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                CPUs
              </th>
              <th scope="col" className="num">
                Memory
              </th>
              <th scope="col">GPUs</th>
              <th scope="col">Allocation</th>
              <th scope="col">Running</th>
            </tr>
          </thead>
          <tbody>
            {list.map((n) => (
              <NodeRow key={n.id} node={n} />
            ))}
          </tbody>
        </table>
      </div>
      {nodes.data !== null && list.length === 0 && (
        <p className="hint">No node has registered: start one with lattice agent.</p>
      )}
    </section>
  );
}
