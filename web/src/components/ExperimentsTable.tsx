import { useMemo, useState } from "react";
import type { Schemas } from "../api/client";
import { formatDuration, isActiveState } from "../lib/format";
import { formatMetric } from "../lib/metricValue";
import { experimentHref } from "../lib/router";
import { experimentCells, FIXED_AFTER, FIXED_BEFORE, type ExperimentColumns } from "../lib/experimentColumns";
import { matchesFilter, parseFilter, sortRows, unknownKeys, type Cell } from "../lib/sort";
import { useDebounced, useNow } from "./hooks";
import { Link } from "./Link";
import { StateBadge } from "./StateBadge";
import { SortHeader, VirtualTable, type Column, type RowInfo } from "./VirtualTable";

interface Props {
  run: Schemas["Run"];
  columns: ExperimentColumns;
  last: Map<number, Map<string, number>>;
  selected: ReadonlySet<number>;
  onToggle: (experiment: number) => void;
}

interface Row {
  e: Schemas["Experiment"];
  id: number;
  cells: Map<string, Cell>;
}

const WIDTHS: Record<string, number> = { id: 56, state: 96, node: 110, attempts: 92, duration: 86, reason: 260 };
const LABELS: Record<string, string> = {
  id: "#", state: "State", node: "Node", attempts: "Attempts", duration: "Duration", reason: "Reason",
};
const RIGHT = new Set(["id", "attempts", "duration"]);

// The run's experiments: one row each, a column per swept parameter and per metric (its last value);
// sortable by any column, filterable with `lr=0.01 state:failed` and free text.
export function ExperimentsTable({ run, columns, last, selected, onToggle }: Props) {
  const [sort, setSort] = useState<{ col: string; dir: "asc" | "desc" }>({ col: "id", dir: "asc" });
  const [filterText, setFilterText] = useState("");
  const filter = useDebounced(filterText, 150);
  const anyActive = run.experiments.some((e) => e.started_at !== "" && e.ended_at === "");
  const now = useNow(1000, anyActive);

  const rows: Row[] = useMemo(
    () =>
      run.experiments.map((e) => {
        const id = Number(e.id);
        return { e, id, cells: experimentCells(e, columns, last.get(id), now) };
      }),
    [run.experiments, columns, last, now],
  );

  const terms = useMemo(() => parseFilter(filter), [filter]);
  const unknown = useMemo(() => unknownKeys(terms, rows[0]?.cells.keys() ?? []), [terms, rows]);
  const shown = useMemo(() => {
    const kept = terms.length === 0 ? rows : rows.filter((r) => matchesFilter(r.cells, terms));
    return sortRows(kept, (r) => r.cells.get(sort.col), sort.dir);
  }, [rows, terms, sort]);

  const toggleSort = (col: string) =>
    setSort((s) => (s.col === col ? { col, dir: s.dir === "asc" ? "desc" : "asc" } : { col, dir: "asc" }));

  const header = (label: string, key: string, width: number, align?: "right", id = key): Column => ({
    id,
    width,
    align,
    sort: sort.col === key ? (sort.dir === "asc" ? "ascending" : "descending") : undefined,
    header: <SortHeader label={label} active={sort.col === key} dir={sort.dir} onSort={() => toggleSort(key)} />,
  });

  const tableColumns: Column[] = [
    { id: "select", header: <span className="visually-hidden">Compare</span>, width: 36 },
    ...FIXED_BEFORE.map((k) => header(LABELS[k] ?? k, k, WIDTHS[k] ?? 90, RIGHT.has(k) ? "right" : undefined)),
    ...columns.params.map((p, i) => header(p, columns.paramCells[i] ?? p, 110, undefined, `param:${p}`)),
    ...columns.metrics.map((m, i) => header(m, columns.metricCells[i] ?? m, 110, "right", `metric:${m}`)),
    ...FIXED_AFTER.map((k) => header(LABELS[k] ?? k, k, WIDTHS[k] ?? 90, RIGHT.has(k) ? "right" : undefined)),
  ];

  const row = (i: number): RowInfo | null => {
    const r = shown[i];
    if (r === undefined) return null;
    const { e, id } = r;
    const metricCells = columns.metrics.map((m) => {
      const v = last.get(id)?.get(m);
      return v === undefined ? "" : formatMetric(v);
    });
    const duration = r.cells.get("duration");
    return {
      key: e.id,
      attrs: { "data-experiment": e.id },
      className: selected.has(id) ? "selected" : isActiveState(e.state) ? "active" : undefined,
      cells: [
        <input
          type="checkbox"
          data-testid="experiment-select"
          aria-label={`Compare experiment ${e.id}`}
          checked={selected.has(id)}
          onChange={() => onToggle(id)}
        />,
        <Link href={experimentHref(run.name, id)}>{e.id}</Link>,
        <StateBadge state={e.state} />,
        ...columns.params.map((p) => e.params[p] ?? ""),
        ...metricCells,
        e.node ?? "",
        e.restarts > 0 ? `${e.attempts} (${e.restarts} lost)` : e.attempts,
        typeof duration === "number" ? formatDuration(duration * 1000) : "",
        <span title={e.reason}>{e.reason}</span>,
      ],
    };
  };

  return (
    <div className="experiments">
      <div className="toolbar">
        <h2>Experiments</h2>
        <input
          type="search"
          className="filter"
          placeholder="Filter: lr=0.01 state:failed loss<0.5 text"
          aria-label="Filter experiments"
          aria-describedby="experiments-filter-help"
          value={filterText}
          onChange={(e) => setFilterText(e.target.value)}
          data-testid="experiments-filter"
          spellCheck={false}
        />
        <span className="total" aria-live="polite">
          {shown.length === rows.length ? `${rows.length}` : `${shown.length} of ${rows.length}`}
        </span>
      </div>
      <p id="experiments-filter-help" className={unknown.length > 0 ? "warn" : "hint"}>
        {unknown.length > 0
          ? `No column named ${unknown.join(", ")}. Columns: ${[...(rows[0]?.cells.keys() ?? [])].join(", ")}.`
          : "name=value, name:text, name<number, or free text; terms combine with AND."}
      </p>
      <VirtualTable
        testId="experiments-table"
        label="Experiments"
        rowTestId="experiment-row"
        className="tall"
        columns={tableColumns}
        rowCount={shown.length}
        row={row}
        empty="No experiment matches."
      />
    </div>
  );
}
