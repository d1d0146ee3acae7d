import { useEffect, useMemo, useRef, useState } from "react";
import { elapsedMs, formatDuration, formatTimestamp, isActiveState } from "../lib/format";
import { mark } from "../lib/perf";
import { runHref } from "../lib/router";
import { ErrorBox } from "../components/ErrorBox";
import { useDebounced, useNow } from "../components/hooks";
import { Link } from "../components/Link";
import { StateBadge, StateCounts } from "../components/StateBadge";
import { useRunPages } from "../components/useRunPages";
import { VirtualTable, type Column, type RowInfo } from "../components/VirtualTable";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

const COLUMNS: Column[] = [
  { id: "name", header: "Name", width: 220 },
  { id: "state", header: "State", width: 100 },
  { id: "counts", header: "Experiments", width: 230 },
  { id: "gpus", header: "GPUs", width: 60, align: "right", title: "GPUs one experiment holds" },
  { id: "cluster", header: "Cluster", width: 100 },
  { id: "started", header: "Started", width: 160 },
  { id: "duration", header: "Duration", width: 90, align: "right" },
  { id: "script", header: "Script", width: 220 },
];

// The search and state filter live in the address (`/?q=owl&state=running`), so a reload or a shared link keeps
// them.
function initialFilter(): { q: string; state: string } {
  const params = new URLSearchParams(window.location.search);
  const state = params.get("state") ?? "";
  return { q: params.get("q") ?? "", state: STATES.includes(state) ? state : "" };
}

function filterSearch(q: string, state: string): string {
  const params = new URLSearchParams();
  if (q !== "") params.set("q", q);
  if (state !== "") params.set("state", state);
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

export function RunsPage() {
  const [search, setSearch] = useState(() => initialFilter().q);
  const [state, setState] = useState(() => initialFilter().state);
  const q = useDebounced(search, 250);
  const filter = useMemo(() => ({ q: q.trim(), state }), [q, state]);
  useEffect(() => {
    const want = filterSearch(filter.q, filter.state);
    if (want !== window.location.search) {
      window.history.replaceState(window.history.state, "", window.location.pathname + want);
    }
  }, [filter]);
  const pages = useRunPages(filter);
  const [view, setView] = useState<[number, number]>([0, 0]);

  // Durations of running runs tick while one is in view.
  let anyRunning = false;
  for (let i = view[0]; i < view[1] && !anyRunning; i++) {
    const r = pages.row(i);
    if (r !== null && r.started_at !== "" && r.ended_at === "") anyRunning = true;
  }
  const now = useNow(1000, anyRunning);

  const marked = useRef(false);
  useEffect(() => {
    if (marked.current || pages.total === null) return;
    marked.current = true;
    mark("runs-interactive");
  }, [pages.total, pages.version]);

  const row = (i: number): RowInfo | null => {
    const r = pages.row(i);
    if (r === null) return null;
    return {
      key: r.name,
      attrs: { "data-run": r.name },
      cells: [
        <Link href={runHref(r.name)} title={r.description || r.name}>
          {r.name}
        </Link>,
        <StateBadge state={r.state} />,
        <StateCounts counts={r.experiment_states} />,
        r.gpus,
        r.cluster,
        <span title={`submitted ${formatTimestamp(r.created_at)}`}>{formatTimestamp(r.started_at)}</span>,
        formatDuration(elapsedMs(r.started_at, r.ended_at, now)),
        <span title={r.script}>{r.script}</span>,
      ],
      className: isActiveState(r.state) ? "active" : undefined,
    };
  };

  const onWindow = pages.onWindow;
  const handleWindow = useMemo(
    () => (start: number, end: number) => {
      setView([start, end]);
      onWindow(start, end);
    },
    [onWindow],
  );

  const total = pages.total;
  return (
    <section className="page runs-page">
      <div className="toolbar">
        <h1>Runs</h1>
        <input
          type="search"
          placeholder="Search name, description, script"
          aria-label="Search runs"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          data-testid="runs-search"
        />
        <select
          aria-label="Filter by state"
          value={state}
          onChange={(e) => setState(e.target.value)}
          data-testid="runs-state-filter"
        >
          <option value="">All states</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <span className="total" data-testid="runs-total" aria-live="polite">
          {total === null ? "Loading…" : `${total} ${total === 1 ? "run" : "runs"}`}
        </span>
      </div>
      <ErrorBox error={pages.error} />
      <VirtualTable
        testId="runs-table"
        label="Runs"
        rowTestId="run-row"
        className="fill"
        columns={COLUMNS}
        rowCount={total ?? 0}
        row={row}
        onWindow={handleWindow}
        empty={
          total === 0 ? (filter.q || filter.state ? "No run matches." : "No runs yet: submit one with lattice run.")
            : undefined
        }
      />
    </section>
  );
}
