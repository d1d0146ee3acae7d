// An experiment's output, live: streamed over the log SSE endpoint, appended once per animation frame, and
// rendered as a window of fixed-height lines (only those in view are in the DOM), with ANSI colours, per-rank
// filtering, search, and follow mode (stick to the bottom until the reader scrolls up).

import {
  memo,
  useDeferredValue,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
} from "react";
import { api, isAbortError, type Schemas } from "../api/client";
import { segmentLook } from "../lib/ansi";
import { LineView, LogBuffer, splitByRanges, splitText, type LogLine } from "../lib/logLines";
import { computeWindow } from "../lib/virtual";
import "./charts-logs.css";

export interface LogViewProps {
  run: string;
  experiment: number;
  /** Attempts started so far (each can be picked to read its output). */
  attempts: number;
  /** Whether the experiment may still write output. */
  active?: boolean;
}

/** Height of one line in px; must match `.log-line` in charts-logs.css. */
export const LINE_HEIGHT = 18;
// Output is taken in for at most this long per frame, in pieces of about this many characters, so a large
// backlog (a page opened late on a chatty run) fills in over a few frames instead of freezing the page.
const FRAME_BUDGET_MS = 12;
const PIECE_CHARS = 64 * 1024;

interface Piece {
  readonly text: string;
  readonly className: string;
  readonly color?: string | undefined;
  readonly backgroundColor?: string | undefined;
}

function pieces(line: LogLine): Piece[] {
  const out: Piece[] = [];
  if (line.prefix !== "") out.push({ text: line.prefix, className: "log-rank-prefix" });
  for (const s of line.segments) {
    const look = segmentLook(s.style);
    out.push({ text: s.text, className: look.className, color: look.color, backgroundColor: look.backgroundColor });
  }
  return out;
}

function renderPiece(p: Piece, text: string, key: number, marked: boolean): ReactNode {
  if (marked) {
    // A match takes the mark's colours (checked for contrast), not the text's own.
    return (
      <mark key={key} className={`${p.className} log-match`.trim()}>
        {text}
      </mark>
    );
  }
  const style =
    p.color !== undefined || p.backgroundColor !== undefined
      ? { color: p.color, backgroundColor: p.backgroundColor }
      : undefined;
  const className = p.className;
  if (className === "" && style === undefined) return text;
  return (
    <span key={key} className={className === "" ? undefined : className} style={style}>
      {text}
    </span>
  );
}

const NO_RANGES: readonly (readonly [number, number])[] = [];

interface RowProps {
  line: LogLine;
  ranges: readonly (readonly [number, number])[];
  current: boolean;
}

// Log text is data: it becomes text nodes, never markup.
const LogRow = memo(function LogRow({ line, ranges, current }: RowProps) {
  let className = "log-line";
  if (line.marker) className += " log-line-marker";
  if (current) className += " log-line-current";
  let content: ReactNode;
  if (line.marker) {
    content = line.text;
  } else {
    const ps = pieces(line);
    content =
      ranges.length === 0
        ? ps.map((p, i) => renderPiece(p, p.text, i, false))
        : splitByRanges(ps, ranges).map((m, i) => renderPiece(m.piece, m.text, i, m.marked));
  }
  return (
    <div className={className} data-testid="log-line" data-seq={line.seq}>
      {content}
    </div>
  );
});

function endText(end: Schemas["LogStreamEnd"]): string {
  return end.exit_code === null ? `ended: ${end.state}` : `ended: ${end.state}, exit code ${end.exit_code}`;
}

export function LogView({ run, experiment, attempts, active = false }: LogViewProps) {
  const [attempt, setAttempt] = useState(0); // 0 follows the newest attempt
  const [rank, setRank] = useState<number | null>(null);
  const [query, setQuery] = useState("");
  const deferredQuery = useDeferredValue(query);
  const [buffer, setBuffer] = useState(() => new LogBuffer());
  const [, setVersion] = useState(0);
  const [end, setEnd] = useState<Schemas["LogStreamEnd"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(400);
  const [follow, setFollow] = useState(true);
  const [currentMatch, setCurrentMatch] = useState(-1);
  const scrollRef = useRef<HTMLDivElement>(null);
  const lastScrollTop = useRef(0);
  const anchorSeq = useRef<number | null>(null); // the top line's seq, kept in view while lines are dropped

  // The stream: a fresh buffer per run/experiment/attempt; chunks are applied once per frame.
  useEffect(() => {
    const buf = new LogBuffer();
    setBuffer(buf);
    setEnd(null);
    setError(null);
    setFollow(true);
    setCurrentMatch(-1);
    // Output waiting to be taken in, in pieces small enough to share a frame's time budget.
    const pending: { attempt: number; text: string }[] = [];
    let next = 0;
    let frame = 0;
    const take = (c: { attempt: number; text: string }) => {
      // After the stream moved on to a newer attempt, an older one's output is stale.
      if (c.attempt < buf.currentAttempt) return;
      buf.beginAttempt(c.attempt);
      buf.append(c.text);
    };
    const flush = (all: boolean) => {
      if (frame !== 0) cancelAnimationFrame(frame);
      frame = 0;
      const started = performance.now();
      while (next < pending.length && (all || performance.now() - started < FRAME_BUDGET_MS)) take(pending[next++]!);
      if (next === pending.length) {
        pending.length = 0;
        next = 0;
      } else {
        frame = requestAnimationFrame(() => flush(false)); // a backlog: the rest in the next frames
      }
      setVersion(buf.version);
    };
    const controller = new AbortController();
    api
      .streamLogs(
        run,
        experiment,
        attempt === 0 ? {} : { attempt },
        {
          log(c) {
            for (const text of splitText(c.text, PIECE_CHARS)) pending.push({ attempt: c.attempt, text });
            if (frame === 0) frame = requestAnimationFrame(() => flush(false));
          },
          end(e) {
            flush(true);
            buf.finish();
            setVersion(buf.version);
            setEnd(e);
          },
        },
        controller.signal,
      )
      .catch((e: unknown) => {
        if (isAbortError(e)) return;
        setError(e instanceof Error ? e.message : String(e));
      });
    return () => {
      controller.abort();
      if (frame !== 0) cancelAnimationFrame(frame);
    };
  }, [run, experiment, attempt]);

  const view = useMemo(() => new LineView(buffer, rank, deferredQuery), [buffer, rank, deferredQuery]);
  view.refresh(); // cheap when nothing was appended; picks up what the last flush added
  const count = view.length;
  const matchCount = view.matchCount;
  const ranks = buffer.ranks();

  // The viewport's height follows the element's (CSS sizes it).
  useEffect(() => {
    const el = scrollRef.current;
    if (el === null) return;
    const measure = () => setViewport(el.clientHeight || 400);
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Follow mode keeps the newest line in view. Otherwise the scroll position is the reader's, except when old
  // lines were dropped from the top: then the line that was at the top is brought back there.
  const seenDropped = useRef({ buffer, dropped: 0 });
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (el === null) return;
    const dropped = seenDropped.current.buffer === buffer && seenDropped.current.dropped !== buffer.dropped;
    seenDropped.current = { buffer, dropped: buffer.dropped };
    let top = el.scrollTop;
    if (follow) {
      top = Math.max(0, count * LINE_HEIGHT - el.clientHeight);
    } else if (dropped && anchorSeq.current !== null) {
      top = view.positionOfSeq(anchorSeq.current) * LINE_HEIGHT + (el.scrollTop % LINE_HEIGHT);
    }
    if (Math.abs(top - el.scrollTop) >= 1) el.scrollTop = top;
    lastScrollTop.current = el.scrollTop;
    const firstShown = view.lineAt(Math.floor(el.scrollTop / LINE_HEIGHT));
    anchorSeq.current = firstShown === undefined ? null : firstShown.seq;
    if (el.scrollTop !== scrollTop) setScrollTop(el.scrollTop);
  });

  const onScroll = () => {
    const el = scrollRef.current;
    if (el === null) return;
    const top = el.scrollTop;
    const atBottom = top + el.clientHeight >= el.scrollHeight - LINE_HEIGHT / 2;
    if (atBottom) setFollow(true);
    else if (top < lastScrollTop.current - 1) setFollow(false);
    lastScrollTop.current = top;
    const firstShown = view.lineAt(Math.floor(top / LINE_HEIGHT));
    anchorSeq.current = firstShown === undefined ? null : firstShown.seq;
    setScrollTop(top);
  };

  const scrollToPosition = (position: number) => {
    const el = scrollRef.current;
    if (el === null) return;
    setFollow(false);
    el.scrollTop = Math.max(0, position * LINE_HEIGHT - el.clientHeight / 2 + LINE_HEIGHT / 2);
    const line = view.lineAt(Math.floor(el.scrollTop / LINE_HEIGHT));
    anchorSeq.current = line === undefined ? null : line.seq;
    lastScrollTop.current = el.scrollTop;
    setScrollTop(el.scrollTop);
  };

  const jumpToEnd = () => {
    setFollow(true);
    const el = scrollRef.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  };

  // Enter / Shift+Enter: the next or previous matching line; the first step starts from what is in view.
  const step = (dir: 1 | -1) => {
    if (matchCount === 0) return;
    let k: number;
    if (currentMatch >= 0 && currentMatch < matchCount) {
      k = (currentMatch + dir + matchCount) % matchCount;
    } else {
      const firstInView = Math.floor(scrollTop / LINE_HEIGHT);
      const lastInView = Math.floor((scrollTop + viewport - 1) / LINE_HEIGHT);
      k = view.stepMatch(dir === 1 ? firstInView - 1 : lastInView + 1, dir);
    }
    const seq = view.matchSeq(k);
    if (k < 0 || seq === undefined) return;
    setCurrentMatch(k);
    scrollToPosition(view.positionOfSeq(seq));
  };

  // A new search starts from the top of what is in view.
  useEffect(() => setCurrentMatch(-1), [deferredQuery, rank]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const el = scrollRef.current;
    if (el === null) return;
    const page = Math.max(LINE_HEIGHT, el.clientHeight - LINE_HEIGHT);
    let top: number | null = null;
    if (e.key === "PageDown") top = el.scrollTop + page;
    else if (e.key === "PageUp") top = el.scrollTop - page;
    else if (e.key === "ArrowDown") top = el.scrollTop + LINE_HEIGHT;
    else if (e.key === "ArrowUp") top = el.scrollTop - LINE_HEIGHT;
    else if (e.key === "Home") top = 0;
    else if (e.key === "End") {
      e.preventDefault();
      jumpToEnd();
      return;
    }
    if (top === null) return;
    e.preventDefault();
    if (top < el.scrollTop) setFollow(false);
    el.scrollTop = Math.max(0, top);
  };

  const win = computeWindow({
    scrollTop,
    viewportHeight: viewport,
    rowHeight: LINE_HEIGHT,
    rowCount: count,
    overscan: 20,
  });
  const currentSeq = currentMatch >= 0 ? view.matchSeq(currentMatch) : undefined;
  const rows: ReactNode[] = [];
  for (let i = win.start; i < win.end; i++) {
    const line = view.lineAt(i);
    if (line === undefined) continue;
    rows.push(
      <LogRow
        key={line.seq}
        line={line}
        ranges={deferredQuery === "" ? NO_RANGES : view.ranges(line)}
        current={line.seq === currentSeq}
      />,
    );
  }

  let status: string;
  if (error !== null) status = `log stream failed: ${error}`;
  else if (end !== null) status = endText(end);
  else if (count === 0) {
    status = attempts === 0 && attempt === 0 ? "waiting for the first attempt" : "waiting for output";
  }
  else status = active || attempt === 0 ? "streaming…" : "";
  const attemptOptions: number[] = [];
  // The stream may be ahead of the page's copy of the experiment.
  for (let n = 1; n <= Math.max(attempts, buffer.currentAttempt, attempt); n++) attemptOptions.push(n);

  return (
    <section className="log-view" aria-label="Output">
      <div className="log-toolbar">
        <label>
          Attempt
          <select data-testid="log-attempt" value={attempt} onChange={(e) => setAttempt(Number(e.target.value))}>
            <option value={0}>newest (follow)</option>
            {attemptOptions.map((n) => (
              <option key={n} value={n}>
                attempt {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rank
          <select
            data-testid="log-rank"
            value={rank === null ? "" : String(rank)}
            onChange={(e) => setRank(e.target.value === "" ? null : Number(e.target.value))}
          >
            <option value="">all ranks</option>
            {ranks.map((r) => (
              <option key={r} value={r}>
                rank {r}
              </option>
            ))}
          </select>
        </label>
        <span className="log-search">
          <input
            type="search"
            data-testid="log-search"
            aria-label="Search the output"
            placeholder="Search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                step(e.shiftKey ? -1 : 1);
              } else if (e.key === "Escape" && query !== "") {
                e.preventDefault();
                setQuery("");
              }
            }}
          />
          <button type="button" onClick={() => step(-1)} disabled={matchCount === 0} aria-label="Previous match">
            ↑
          </button>
          <button type="button" onClick={() => step(1)} disabled={matchCount === 0} aria-label="Next match">
            ↓
          </button>
          <span className="log-search-count" data-testid="log-search-count" aria-live="polite">
            {deferredQuery === ""
              ? ""
              : matchCount === 0
                ? "no matches"
                : currentMatch >= 0
                  ? `${currentMatch + 1} of ${matchCount} lines`
                  : `${matchCount} ${matchCount === 1 ? "line" : "lines"}`}
          </span>
        </span>
        <button type="button" data-testid="log-jump-end" onClick={jumpToEnd} aria-pressed={follow}>
          {follow ? "Following" : "Jump to end"}
        </button>
      </div>
      {(count > 0 || error !== null) && (
        <div className={error !== null ? "log-status log-status-error" : "log-status"} data-testid="log-status">
          {status}
          {buffer.dropped > 0 &&
            ` · ${buffer.dropped.toLocaleString()} earlier lines dropped (only the newest ` +
              `${buffer.maxLines.toLocaleString()} are kept)`}
        </div>
      )}
      <div
        ref={scrollRef}
        className="log-scroll"
        data-testid="log-view"
        tabIndex={0}
        role="log"
        aria-live="off"
        aria-label="Log output; PageUp, PageDown, Home and End scroll"
        onScroll={onScroll}
        onKeyDown={onKeyDown}
      >
        {count === 0 ? (
          <div className="log-empty">{status}</div>
        ) : (
          <div className="log-canvas" style={{ height: count * LINE_HEIGHT }}>
            <div className="log-rows" style={{ transform: `translateY(${win.start * LINE_HEIGHT}px)` }}>
              {rows}
            </div>
          </div>
        )}
      </div>
    </section>
  );
}

export default LogView;
