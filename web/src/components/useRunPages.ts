// The runs list, fetched in pages as the table's window needs them (newest first), kept fresh by the
// server's run events.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, isAbortError, type Schemas } from "../api/client";
import { pagesFor } from "../lib/virtual";
import { useThrottled } from "./hooks";

export const PAGE_SIZE = 100;
type RunSummary = Schemas["RunSummary"];

export interface RunFilter {
  q: string;
  state: string;
}

export interface RunPages {
  total: number | null; // null until the first page arrived
  row: (index: number) => RunSummary | null;
  version: number; // changes whenever rows change, for memoised renders
  error: unknown;
  onWindow: (start: number, end: number) => void;
}

export function useRunPages(filter: RunFilter): RunPages {
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  const rows = useRef(new Map<number, RunSummary>());
  const loading = useRef(new Set<number>());
  const windowRef = useRef<[number, number]>([0, PAGE_SIZE]);
  const ctlRef = useRef<AbortController | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;

  const fetchPage = useCallback((page: number, ctl: AbortController): Promise<Schemas["RunList"]> => {
    const f = filterRef.current;
    return api.listRuns(
      { limit: PAGE_SIZE, offset: page * PAGE_SIZE, order: "newest", state: f.state, q: f.q },
      ctl.signal,
    );
  }, []);

  const store = (target: Map<number, RunSummary>, page: number, list: Schemas["RunList"]) => {
    list.runs.forEach((r, i) => target.set(page * PAGE_SIZE + i, r));
  };

  const loadMissing = useCallback(() => {
    const ctl = ctlRef.current;
    if (ctl === null) return;
    const [start, end] = windowRef.current;
    // Before the table knows how many rows there are, its window is empty: the first page is still needed.
    for (const page of pagesFor(start, Math.max(end, start + 1), PAGE_SIZE)) {
      if (loading.current.has(page) || rows.current.has(page * PAGE_SIZE)) continue;
      loading.current.add(page);
      fetchPage(page, ctl).then(
        (list) => {
          loading.current.delete(page);
          if (ctl.signal.aborted) return;
          store(rows.current, page, list);
          setTotal(list.total);
          setError(null);
          setVersion((v) => v + 1);
        },
        (e: unknown) => {
          loading.current.delete(page);
          if (!ctl.signal.aborted && !isAbortError(e)) setError(e);
        },
      );
    }
  }, [fetchPage]);

  // A new filter: start over from the first page.
  useEffect(() => {
    ctlRef.current?.abort();
    const ctl = new AbortController();
    ctlRef.current = ctl;
    rows.current = new Map();
    loading.current = new Set();
    setTotal(null);
    setError(null);
    setVersion((v) => v + 1);
    loadMissing();
    return () => ctl.abort();
  }, [filter.q, filter.state, loadMissing]);

  // Fetches the pages in view again and swaps them in at once (runs were added, or moved between filters);
  // pages out of view are dropped and fetched again when scrolled to.
  const refresh = useCallback(() => {
    const ctl = ctlRef.current;
    if (ctl === null) return;
    const [start, end] = windowRef.current;
    const pages = pagesFor(start, Math.max(end, start + 1), PAGE_SIZE);
    Promise.all(pages.map((p) => fetchPage(p, ctl))).then(
      (lists) => {
        if (ctl.signal.aborted) return;
        const next = new Map<number, RunSummary>();
        lists.forEach((list, i) => store(next, pages[i] ?? 0, list));
        rows.current = next;
        loading.current = new Set();
        const last = lists[lists.length - 1];
        if (last !== undefined) setTotal(last.total);
        setVersion((v) => v + 1);
      },
      (e: unknown) => {
        if (!ctl.signal.aborted && !isAbortError(e)) setError(e);
      },
    );
  }, [fetchPage]);
  const refreshSoon = useThrottled(refresh, 500);

  // Live: a run in view changes in place at once; the window is fetched again shortly after any change, which
  // brings in new runs and drops those that left the filter.
  useEffect(() => {
    const ctl = new AbortController();
    api
      .streamEvents(
        { initial: 0 },
        (summary) => {
          for (const [i, r] of rows.current) {
            if (r.name === summary.name) {
              rows.current.set(i, summary);
              setVersion((v) => v + 1);
              break;
            }
          }
          refreshSoon();
        },
        ctl.signal,
      )
      .catch((e: unknown) => {
        if (!isAbortError(e)) setError(e);
      });
    return () => ctl.abort();
  }, [refreshSoon]);

  const onWindow = useCallback(
    (start: number, end: number) => {
      windowRef.current = [start, end];
      loadMissing();
    },
    [loadMissing],
  );

  const row = useCallback((index: number) => rows.current.get(index) ?? null, []);
  return { total, row, version, error, onWindow };
}
