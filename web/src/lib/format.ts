// How times, sizes and counts are written in the UI. Pure: "now" is always passed in.

// Milliseconds since the epoch of an API Timestamp, or null for "" (not known yet) and malformed text.
export function parseTimestamp(ts: string | null | undefined): number | null {
  if (ts === null || ts === undefined || ts === "") return null;
  const ms = Date.parse(ts);
  return Number.isNaN(ms) ? null : ms;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

// "2026-11-26 01:02:03" in the viewer's time zone; "" for an unknown time.
export function formatTimestamp(ts: string | null | undefined): string {
  const ms = parseTimestamp(ts);
  if (ms === null) return "";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

// Short and of fixed precision: "850ms", "42s", "3m 05s", "2h 07m", "3d 04h".
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d ${pad(h % 24)}h`;
}

// How long something started at `started` has run: until `ended`, or until `now` while it has not ended.
// null before it started.
export function elapsedMs(started: string | null | undefined, ended: string | null | undefined,
  now: number): number | null {
  const s = parseTimestamp(started);
  if (s === null) return null;
  const e = parseTimestamp(ended);
  return (e ?? now) - s;
}

// "$12.35", "$1,234.50", "$0.0042" below a cent (a running experiment's first minutes), as the CLI writes it.
export function formatMoney(amount: number): string {
  if (!Number.isFinite(amount)) return "$?";
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  const digits = abs > 0 && abs < 0.01 ? 4 : 2;
  const [whole = "0", fraction = ""] = abs.toFixed(digits).split(".");
  return `${sign}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${fraction}`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// "512 B", "1.5 KiB", "12 MiB" (three significant digits at most).
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "";
  let v = bytes;
  let unit = 0;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  if (unit === 0) return `${v} B`;
  const text = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${text.replace(/\.?0+$/, "")} ${UNITS[unit]}`;
}

export const STATE_ORDER = ["queued", "starting", "running", "succeeded", "failed", "cancelled"] as const;
export type CountedState = (typeof STATE_ORDER)[number];

// The non-zero counts in a fixed order, e.g. [["running", 2], ["succeeded", 5]].
export function stateCounts(counts: Partial<Record<string, number>>): [CountedState, number][] {
  const out: [CountedState, number][] = [];
  for (const state of STATE_ORDER) {
    const n = counts[state];
    if (n !== undefined && n > 0) out.push([state, n]);
  }
  return out;
}

// Counts of each state in a list of things that have one (experiments, attempts).
export function countStates(items: readonly { state: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[item.state] = (out[item.state] ?? 0) + 1;
  return out;
}

export function isActiveState(state: string): boolean {
  return state === "queued" || state === "starting" || state === "running";
}
