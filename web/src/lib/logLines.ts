// The log view's model: a bounded buffer of output lines built from stream chunks, and a view of it narrowed
// to one rank and searched. Everything here is pure data; the component only renders what it is given.

import { DEFAULT_STYLE, parseAnsiLine, SgrCache, styleToSgr, type AnsiSegment, type AnsiStyle } from "./ansi";

export interface LogLine {
  /** The line's number since the stream began; not changed when older lines are dropped. */
  readonly seq: number;
  readonly attempt: number;
  /** The rank that wrote it (from its `[rank N] ` prefix), or null. */
  readonly rank: number | null;
  /** The `[rank N] ` prefix as written, or "". Shown, dimmed. */
  readonly prefix: string;
  /** The visible text after the prefix: escapes removed, carriage returns applied. */
  readonly text: string;
  readonly segments: readonly AnsiSegment[];
  /** A line the view adds between attempts, not output of the script. */
  readonly marker: boolean;
}

export const DEFAULT_MAX_LINES = 200_000;

const RANK_PREFIX = /^\[rank (\d{1,6})\] /;
// Control characters other than tab; a line without them (and without escapes) needs no parsing.
const NEEDS_PARSE = /[\x00-\x08\x0a-\x1f\x7f]/;
// A partial line longer than this is compacted (progress bars redraw it with carriage returns) ...
const TAIL_COMPACT_CHARS = 8 * 1024;
// ... and one longer than this after that is cut into a line of its own, so each update stays cheap.
const MAX_TAIL_CHARS = 256 * 1024;

function splitRank(raw: string): { rank: number | null; prefix: string; body: string } {
  const m = RANK_PREFIX.exec(raw);
  if (m === null) return { rank: null, prefix: "", body: raw };
  return { rank: Number(m[1]), prefix: m[0], body: raw.slice(m[0].length) };
}

/**
 * Output lines of one stream, oldest first, at most `maxLines` of them (the oldest are dropped, and counted in
 * `dropped`). Text is appended in chunks that may end anywhere, even inside an escape sequence; the partial last
 * line is shown as the `tail` until its newline arrives. Each rank keeps its own escape state, since the ranks'
 * outputs are interleaved line by line.
 */
export class LogBuffer {
  readonly maxLines: number;
  /** Lines dropped from the front so far. */
  dropped = 0;
  /** Changes whenever the content does, so a view can tell when to refresh. */
  version = 0;
  private lines: LogLine[] = [];
  private start = 0;
  private nextSeq = 0;
  private attempt = 0;
  private tailRaw = "";
  private tailLine: LogLine | null = null;
  private styles = new Map<number | null, AnsiStyle>();
  private rankSet = new Set<number>();
  private sgr = new SgrCache();

  constructor(maxLines: number = DEFAULT_MAX_LINES) {
    if (!Number.isInteger(maxLines) || maxLines < 1) throw new RangeError(`maxLines must be >= 1, got ${maxLines}`);
    this.maxLines = maxLines;
  }

  /** The seq of the oldest line kept. */
  get firstSeq(): number {
    return this.nextSeq - (this.lines.length - this.start);
  }

  /** One past the seq of the newest complete line (the tail, when there is one, has this seq). */
  get endSeq(): number {
    return this.nextSeq;
  }

  /** Complete lines kept. */
  get completeCount(): number {
    return this.lines.length - this.start;
  }

  /** The attempt whose output is being appended (0 before any). */
  get currentAttempt(): number {
    return this.attempt;
  }

  /** A complete line by seq, or the tail when `seq` is endSeq; undefined when dropped or not there. */
  lineAt(seq: number): LogLine | undefined {
    if (seq === this.nextSeq) return this.tail() ?? undefined;
    const i = seq - this.firstSeq;
    if (i < 0) return undefined;
    return this.lines[this.start + i];
  }

  /** The partial last line (output not ended by a newline yet), or null. */
  tail(): LogLine | null {
    if (this.tailRaw === "") return null;
    if (this.tailLine === null) this.tailLine = this.makeLine(this.tailRaw, false);
    return this.tailLine;
  }

  /** The ranks seen so far, ascending. */
  ranks(): number[] {
    return [...this.rankSet].sort((a, b) => a - b);
  }

  /**
   * Starts the output of attempt `attempt`. When it follows another attempt's output, that output's partial
   * line is ended, a marker line is added, and the escape state starts over (it is a new process).
   */
  beginAttempt(attempt: number): void {
    if (attempt === this.attempt) return;
    const hadOutput = this.attempt !== 0;
    this.finish();
    this.attempt = attempt;
    this.styles.clear();
    if (hadOutput) {
      this.push({
        seq: this.nextSeq,
        attempt,
        rank: null,
        prefix: "",
        text: `── attempt ${attempt} ──`,
        segments: [],
        marker: true,
      });
      this.version++;
    }
  }

  /** Appends output text of the current attempt. */
  append(text: string): void {
    if (text === "") return;
    this.version++;
    this.tailLine = null;
    const parts = (this.tailRaw + text).split("\n");
    this.tailRaw = parts.pop() ?? "";
    for (const raw of parts) this.commit(raw);
    this.compactTail();
  }

  /** Ends the partial last line, if any (the output is complete). */
  finish(): void {
    if (this.tailRaw === "") return;
    const raw = this.tailRaw;
    this.tailRaw = "";
    this.tailLine = null;
    this.commit(raw);
    this.version++;
  }

  private commit(raw: string): void {
    this.push(this.makeLine(raw, true));
  }

  private push(line: LogLine): void {
    this.lines.push(line);
    this.nextSeq++;
    const excess = this.lines.length - this.start - this.maxLines;
    if (excess > 0) {
      this.start += excess;
      this.dropped += excess;
      // Dropping by moving `start` is O(1); the array is copied only once half of it is dead.
      if (this.start > 1024 && this.start * 2 > this.lines.length) {
        this.lines = this.lines.slice(this.start);
        this.start = 0;
      }
    }
  }

  /** Parses one raw line; `commit` saves the escape state it ends in for the rank's next line. */
  private makeLine(raw: string, commit: boolean): LogLine {
    const { rank, prefix, body } = splitRank(raw);
    if (rank !== null && commit) this.rankSet.add(rank);
    const style = this.styles.get(rank) ?? DEFAULT_STYLE;
    let segments: AnsiSegment[];
    let text: string;
    if (!NEEDS_PARSE.test(body)) {
      segments = body === "" ? [] : [{ text: body, style }];
      text = body;
    } else {
      const parsed = parseAnsiLine(body, style, this.sgr);
      segments = parsed.segments;
      text = segments.length === 1 ? segments[0]!.text : segments.map((s) => s.text).join("");
      if (commit) {
        if (parsed.endStyle === DEFAULT_STYLE) this.styles.delete(rank);
        else this.styles.set(rank, parsed.endStyle);
      }
    }
    return { seq: this.nextSeq, attempt: this.attempt, rank, prefix, text, segments, marker: false };
  }

  /**
   * Keeps a long partial line small: a progress bar redraws it with carriage returns, and only the text after
   * the last one shows. What is cut away is replaced by an escape that recreates the style it left in force.
   */
  private compactTail(): void {
    if (this.tailRaw.length <= TAIL_COMPACT_CHARS) return;
    const { rank, prefix, body } = splitRank(this.tailRaw);
    const cr = body.lastIndexOf("\r", body.length - 2);
    if (cr > 0) {
      const before = parseAnsiLine(body.slice(0, cr), this.styles.get(rank) ?? DEFAULT_STYLE, this.sgr).endStyle;
      this.tailRaw = prefix + styleToSgr(before) + body.slice(cr + 1);
    }
    if (this.tailRaw.length > MAX_TAIL_CHARS) {
      const raw = this.tailRaw;
      this.tailRaw = "";
      this.commit(raw);
    }
  }
}

/**
 * Cuts `text` into pieces of about `max` characters, each (but the last) ending right after a newline where one
 * is near, so a large chunk of output can be taken in over several frames.
 */
export function splitText(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const out: string[] = [];
  let at = 0;
  while (text.length - at > max) {
    const nl = text.lastIndexOf("\n", at + max - 1);
    const end = nl >= at + max / 2 ? nl + 1 : at + max;
    out.push(text.slice(at, end));
    at = end;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** Where `queryLower` (already lower-cased) occurs in `text`, as [start, end) pairs. */
export function matchRanges(text: string, queryLower: string): [number, number][] {
  if (queryLower === "") return [];
  const lower = text.toLowerCase();
  // Lower-casing a few characters changes the length; then positions cannot be mapped back, so none are given.
  if (lower.length !== text.length) return [];
  const out: [number, number][] = [];
  for (let i = lower.indexOf(queryLower); i !== -1; i = lower.indexOf(queryLower, i + queryLower.length)) {
    out.push([i, i + queryLower.length]);
  }
  return out;
}

/** A piece of text cut so that each match lies in whole pieces. */
export interface MarkedPiece<T> {
  readonly piece: T;
  readonly text: string;
  readonly marked: boolean;
}

/** Cuts `pieces` (consecutive text) at the edges of `ranges` (sorted, not overlapping) and flags the matches. */
export function splitByRanges<T extends { readonly text: string }>(
  pieces: readonly T[],
  ranges: readonly (readonly [number, number])[],
): MarkedPiece<T>[] {
  const out: MarkedPiece<T>[] = [];
  let pos = 0;
  let r = 0;
  for (const piece of pieces) {
    const end = pos + piece.text.length;
    let at = pos;
    while (at < end) {
      while (r < ranges.length && ranges[r]![1] <= at) r++;
      const range = ranges[r];
      if (range === undefined || range[0] >= end) {
        out.push({ piece, text: piece.text.slice(at - pos), marked: false });
        at = end;
      } else if (range[0] > at) {
        out.push({ piece, text: piece.text.slice(at - pos, range[0] - pos), marked: false });
        at = range[0];
      } else {
        const stop = Math.min(range[1], end);
        out.push({ piece, text: piece.text.slice(at - pos, stop - pos), marked: true });
        at = stop;
      }
    }
    pos = end;
  }
  return out;
}

function lineMatches(line: LogLine, queryLower: string): boolean {
  if (queryLower === "" || line.marker) return false;
  return (line.prefix + line.text).toLowerCase().includes(queryLower);
}

/**
 * The lines of a LogBuffer that one rank wrote (or all, for null), and those of them containing a search text
 * (case-insensitive). Kept up to date incrementally by `refresh`: new lines are scanned once, dropped ones let go.
 * Positions (0 = the oldest line shown) are what the view scrolls by; the partial tail counts as the last line.
 */
export class LineView {
  readonly rank: number | null;
  readonly query: string;
  private readonly queryLower: string;
  // The seqs of the lines shown (only when filtering by rank; otherwise every line is) and of the matches.
  private shown: number[] = [];
  private shownHead = 0;
  private matches: number[] = [];
  private matchHead = 0;
  private scanned: number;

  constructor(
    private readonly buffer: LogBuffer,
    rank: number | null,
    query: string,
  ) {
    this.rank = rank;
    this.query = query;
    this.queryLower = query.toLowerCase();
    this.scanned = buffer.firstSeq;
    this.refresh();
  }

  private includes(line: LogLine): boolean {
    return this.rank === null || line.marker || line.rank === this.rank;
  }

  /** Takes in the lines appended and dropped since the last call. */
  refresh(): void {
    const first = this.buffer.firstSeq;
    while (this.shownHead < this.shown.length && this.shown[this.shownHead]! < first) this.shownHead++;
    while (this.matchHead < this.matches.length && this.matches[this.matchHead]! < first) this.matchHead++;
    if (this.shownHead > 1024 && this.shownHead * 2 > this.shown.length) {
      this.shown = this.shown.slice(this.shownHead);
      this.shownHead = 0;
    }
    if (this.matchHead > 1024 && this.matchHead * 2 > this.matches.length) {
      this.matches = this.matches.slice(this.matchHead);
      this.matchHead = 0;
    }
    const end = this.buffer.endSeq;
    if (this.rank === null && this.queryLower === "") {
      this.scanned = end; // every line is shown and none is searched for: nothing to index
      return;
    }
    for (let seq = Math.max(this.scanned, first); seq < end; seq++) {
      const line = this.buffer.lineAt(seq);
      if (line === undefined || !this.includes(line)) continue;
      if (this.rank !== null) this.shown.push(seq);
      if (lineMatches(line, this.queryLower)) this.matches.push(seq);
    }
    this.scanned = end;
  }

  private tailShown(): LogLine | null {
    const tail = this.buffer.tail();
    return tail !== null && this.includes(tail) ? tail : null;
  }

  /** Lines shown, the partial tail included. */
  get length(): number {
    const complete = this.rank === null ? this.buffer.completeCount : this.shown.length - this.shownHead;
    return complete + (this.tailShown() === null ? 0 : 1);
  }

  /** The line at a position (0 = oldest shown). */
  lineAt(position: number): LogLine | undefined {
    if (this.rank === null) return this.buffer.lineAt(this.buffer.firstSeq + position);
    const seq = this.shown[this.shownHead + position];
    if (seq !== undefined) return this.buffer.lineAt(seq);
    return position === this.shown.length - this.shownHead ? (this.tailShown() ?? undefined) : undefined;
  }

  /** The position of the line with `seq`, or of the first shown line after it when it is not shown. */
  positionOfSeq(seq: number): number {
    if (this.rank === null) return Math.max(0, seq - this.buffer.firstSeq);
    let lo = this.shownHead;
    let hi = this.shown.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.shown[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.shownHead;
  }

  /** Lines containing the search text, the partial tail included. */
  get matchCount(): number {
    const tail = this.tailShown();
    return this.matches.length - this.matchHead + (tail !== null && lineMatches(tail, this.queryLower) ? 1 : 0);
  }

  /** The seq of the k-th matching line (0 = oldest). */
  matchSeq(k: number): number | undefined {
    const seq = this.matches[this.matchHead + k];
    if (seq !== undefined) return seq;
    return k === this.matches.length - this.matchHead && this.matchCount > k ? this.buffer.endSeq : undefined;
  }

  /**
   * The match to go to from the line at `position`: the first one after it (`dir` 1) or before it (-1), wrapping
   * around. Returns the match's index, or -1 when there are none.
   */
  stepMatch(position: number, dir: 1 | -1): number {
    const count = this.matchCount;
    if (count === 0) return -1;
    // Index of the first match at or after `position`.
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.positionOfSeq(this.matchSeq(mid)!) < position) lo = mid + 1;
      else hi = mid;
    }
    if (dir === 1) {
      const at = lo < count && this.positionOfSeq(this.matchSeq(lo)!) === position ? lo + 1 : lo;
      return at % count;
    }
    return (lo - 1 + count) % count;
  }

  /** Ranges of the search text in a line's displayed text (prefix + text). */
  ranges(line: LogLine): [number, number][] {
    return line.marker ? [] : matchRanges(line.prefix + line.text, this.queryLower);
  }
}
