// Sorting and filtering of table rows whose cells are named (the experiments table: id, state, node,
// each swept parameter, each metric...). The filter language, for people typing into one box:
//   lr=0.01          the cell named lr equals 0.01 (numerically when both are numbers: 0.010 matches)
//   state:fail       the cell named state contains "fail" (case-insensitive)
//   loss<0.5 acc>=.9 numeric comparisons (<, <=, >, >=); != for "not equal"
//   sgd "two words"  free text: some cell contains it
// Terms are ANDed; names are case-insensitive.
import { split } from "./shellwords";

export type Cell = string | number | null | undefined;
export type Op = "=" | "!=" | ":" | "<" | "<=" | ">" | ">=";
export type Term = { kind: "field"; key: string; op: Op; value: string } | { kind: "text"; text: string };

// Numbers as a person writes them in a cell or a filter ("1e-3", "0.010", " 5 "); null for anything else.
export function asNumber(v: Cell): number | null {
  if (typeof v === "number") return v;
  if (v === null || v === undefined) return null;
  const t = v.trim();
  if (t === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return null;
  return Number(t);
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

// Numbers before text, numbers by value, text "naturally" (run-2 before run-10); empty cells always last.
export function compareCells(a: Cell, b: Cell): number {
  const aEmpty = a === null || a === undefined || a === "";
  const bEmpty = b === null || b === undefined || b === "";
  if (aEmpty || bEmpty) return aEmpty === bEmpty ? 0 : aEmpty ? 1 : -1;
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== null && nb !== null) {
    if (Number.isNaN(na) || Number.isNaN(nb)) {
      if (Number.isNaN(na) && Number.isNaN(nb)) return 0;
      return Number.isNaN(na) ? 1 : -1; // NaN after every number
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
  }
  if (na !== null) return -1;
  if (nb !== null) return 1;
  return collator.compare(String(a), String(b));
}

// A stable sort by one cell; empty cells stay last in both directions.
export function sortRows<T>(rows: readonly T[], cell: (row: T) => Cell, dir: "asc" | "desc"): T[] {
  const keyed = rows.map((row, i) => ({ row, i, v: cell(row) }));
  keyed.sort((x, y) => {
    const xEmpty = x.v === null || x.v === undefined || x.v === "";
    const yEmpty = y.v === null || y.v === undefined || y.v === "";
    if (xEmpty !== yEmpty) return xEmpty ? 1 : -1;
    const c = compareCells(x.v, y.v);
    return (dir === "asc" ? c : -c) || x.i - y.i;
  });
  return keyed.map((k) => k.row);
}

const TERM = /^([A-Za-z_][\w./-]*?)(<=|>=|!=|=|:|<|>)(.*)$/s;

export function parseFilter(input: string): Term[] {
  let words: string[];
  try {
    words = split(input);
  } catch {
    words = input.split(/\s+/); // an unfinished quote while typing: take the words as they are
  }
  const terms: Term[] = [];
  for (const word of words) {
    if (word === "") continue;
    const m = TERM.exec(word);
    if (m !== null && m[1] !== undefined && m[2] !== undefined && m[3] !== undefined) {
      terms.push({ kind: "field", key: m[1].toLowerCase(), op: m[2] as Op, value: m[3] });
    } else {
      terms.push({ kind: "text", text: word.toLowerCase() });
    }
  }
  return terms;
}

// The field terms that name no cell, so the page can say which names exist.
export function unknownKeys(terms: readonly Term[], keys: Iterable<string>): string[] {
  const known = new Set([...keys].map((k) => k.toLowerCase()));
  return terms.flatMap((t) => (t.kind === "field" && !known.has(t.key) ? [t.key] : []));
}

function cellText(v: Cell): string {
  return v === null || v === undefined ? "" : String(v).toLowerCase();
}

function fieldMatches(v: Cell, op: Op, value: string): boolean {
  const text = cellText(v);
  const want = value.toLowerCase();
  if (op === ":") return text.includes(want);
  const a = asNumber(v);
  const b = asNumber(value);
  if (op === "=" || op === "!=") {
    const equal = a !== null && b !== null ? a === b : text === want;
    return op === "=" ? equal : !equal;
  }
  if (a === null || b === null) return false;
  switch (op) {
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    default:
      return a >= b;
  }
}

// `cells` maps lower-case names to values; free text looks at every cell.
export function matchesFilter(cells: ReadonlyMap<string, Cell>, terms: readonly Term[]): boolean {
  for (const term of terms) {
    if (term.kind === "field") {
      if (!cells.has(term.key) || !fieldMatches(cells.get(term.key), term.op, term.value)) return false;
    } else {
      let found = false;
      for (const v of cells.values()) {
        if (cellText(v).includes(term.text)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
  }
  return true;
}
