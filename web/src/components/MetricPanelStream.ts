// One live metrics stream per run (and experiment filter), shared by every chart that follows it. Browsers
// keep at most six HTTP/1.1 connections per server; a page with a log stream, the run events and a stream per
// chart would use them all up and leave its next fetches waiting forever. Charts subscribe here instead, and
// each receives the points of its own key.

import { api, isAbortError, type Schemas } from "../api/client";

export type PointsListener = (p: Schemas["MetricPoints"]) => void;
export type StreamErrorListener = (message: string) => void;

interface Shared {
  listeners: Map<PointsListener, StreamErrorListener>;
  controller: AbortController;
  closeTimer: ReturnType<typeof setTimeout> | undefined;
}

// A stream nobody listens to is kept this long, so a chart that is rebuilt (new key, new options) does not
// close and reopen the connection.
const LINGER_MS = 2000;

export class MetricStreamHub {
  private readonly streams = new Map<string, Shared>();

  constructor(
    private readonly open: typeof api.streamMetrics = (run, q, onPoints, signal) =>
      api.streamMetrics(run, q, onPoints, signal),
  ) {}

  /** Number of open streams (for tests). */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Calls `onPoints` with the points the run's experiment `experiment` (every experiment when undefined) stores
   * from now on; returns the function that stops it.
   */
  subscribe(
    run: string,
    experiment: number | undefined,
    onPoints: PointsListener,
    onError: StreamErrorListener,
  ): () => void {
    const id = `${run}\n${experiment ?? "*"}`;
    let shared = this.streams.get(id);
    if (shared === undefined) {
      const created: Shared = { listeners: new Map(), controller: new AbortController(), closeTimer: undefined };
      shared = created;
      this.streams.set(id, created);
      const q = experiment === undefined ? {} : { experiment };
      this.open(
        run,
        q,
        (p) => {
          for (const listener of [...created.listeners.keys()]) listener(p);
        },
        created.controller.signal,
      ).catch((e: unknown) => {
        if (isAbortError(e)) return;
        const message = e instanceof Error ? e.message : String(e);
        for (const report of created.listeners.values()) report(message);
        if (this.streams.get(id) === created) this.streams.delete(id);
      });
    }
    const s = shared;
    if (s.closeTimer !== undefined) {
      clearTimeout(s.closeTimer);
      s.closeTimer = undefined;
    }
    s.listeners.set(onPoints, onError);
    return () => {
      s.listeners.delete(onPoints);
      if (s.listeners.size > 0 || s.closeTimer !== undefined) return;
      s.closeTimer = setTimeout(() => {
        s.closeTimer = undefined;
        if (s.listeners.size > 0) return;
        s.controller.abort();
        if (this.streams.get(id) === s) this.streams.delete(id);
      }, LINGER_MS);
    };
  }
}
