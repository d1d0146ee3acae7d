import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { computeWindow } from "../lib/virtual";

export interface Column {
  id: string;
  header: ReactNode;
  width: number; // px; the table scrolls sideways when the columns are wider than the screen
  align?: "right";
  title?: string;
  sort?: "ascending" | "descending"; // set on the column the rows are sorted by
}

export interface RowInfo {
  key: string;
  cells: ReactNode[]; // one per column
  attrs?: Record<string, string | undefined>; // data-* attributes of the row
  className?: string;
}

interface Props {
  testId: string;
  label: string; // for screen readers
  columns: Column[];
  rowCount: number;
  rowTestId: string;
  row: (index: number) => RowInfo | null; // null: not loaded yet (a placeholder row is shown)
  rowHeight?: number;
  className?: string; // sets the scroll box's height
  empty?: ReactNode;
  onWindow?: (start: number, end: number) => void;
}

const FALLBACK_VIEWPORT = 800; // before layout (and in tests without layout) assume a tall window

// A table whose rows are windowed: only the rows in view (plus a margin) are in the DOM, spacer rows keep the
// scroll height right. Rows have one fixed height, cells do not wrap.
export function VirtualTable(props: Props) {
  const { columns, rowCount, rowHeight = 32, onWindow } = props;
  const boxRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(FALLBACK_VIEWPORT);
  const frame = useRef<number | null>(null);

  const onScroll = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      if (boxRef.current !== null) setScrollTop(boxRef.current.scrollTop);
    });
  }, []);

  useLayoutEffect(() => {
    const box = boxRef.current;
    if (box === null) return;
    const measure = () => setViewport(box.clientHeight > 0 ? box.clientHeight : FALLBACK_VIEWPORT);
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(measure);
    ro.observe(box);
    return () => ro.disconnect();
  }, []);

  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  const win = useMemo(
    () => computeWindow({ scrollTop, viewportHeight: viewport, rowHeight, rowCount, overscan: 10 }),
    [scrollTop, viewport, rowHeight, rowCount],
  );

  useEffect(() => onWindow?.(win.start, win.end), [onWindow, win.start, win.end]);

  const width = columns.reduce((sum, c) => sum + c.width, 0);
  const rows: ReactNode[] = [];
  for (let i = win.start; i < win.end; i++) {
    const info = props.row(i);
    if (info === null) {
      rows.push(
        <tr key={`placeholder-${i}`} className="placeholder" style={{ height: rowHeight }} aria-rowindex={i + 2}>
          <td colSpan={columns.length}>…</td>
        </tr>,
      );
      continue;
    }
    rows.push(
      <tr
        key={info.key}
        data-testid={props.rowTestId}
        className={info.className}
        style={{ height: rowHeight }}
        aria-rowindex={i + 2}
        {...info.attrs}
      >
        {info.cells.map((cell, c) => (
          <td key={columns[c]?.id ?? c} className={columns[c]?.align === "right" ? "num" : undefined}>
            {cell}
          </td>
        ))}
      </tr>,
    );
  }

  return (
    <div
      className={`vtable ${props.className ?? ""}`}
      ref={boxRef}
      onScroll={onScroll}
      tabIndex={0}
      role="region"
      aria-label={props.label}
    >
      <table data-testid={props.testId} style={{ width, minWidth: "100%" }} aria-rowcount={rowCount + 1}>
        <colgroup>
          {columns.map((c) => (
            <col key={c.id} style={{ width: c.width }} />
          ))}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map((c) => (
              <th
                key={c.id}
                scope="col"
                className={c.align === "right" ? "num" : undefined}
                title={c.title}
                aria-sort={c.sort}
              >
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {win.padTop > 0 && <tr aria-hidden="true" className="spacer" style={{ height: win.padTop }} />}
          {rows}
          {win.padBottom > 0 && <tr aria-hidden="true" className="spacer" style={{ height: win.padBottom }} />}
        </tbody>
      </table>
      {rowCount === 0 && props.empty !== undefined && <div className="empty">{props.empty}</div>}
    </div>
  );
}

// A column header that sorts: a real button, with the direction announced.
export function SortHeader(props: {
  label: string;
  active: boolean;
  dir: "asc" | "desc";
  onSort: () => void;
}) {
  const arrow = props.active ? (props.dir === "asc" ? " ▲" : " ▼") : "";
  return (
    <button
      type="button"
      className="sort"
      onClick={props.onSort}
      aria-label={`${props.label}, sort ${props.active && props.dir === "asc" ? "descending" : "ascending"}`}
      aria-pressed={props.active}
    >
      {props.label}
      <span aria-hidden="true">{arrow}</span>
    </button>
  );
}
