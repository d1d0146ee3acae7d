// The typed client of the Lattice HTTP API (api/openapi.yaml). Every request sends the stored token;
// server-sent events go over fetch, since EventSource cannot send an Authorization header.
import type { components } from "./schema";
import { getToken, notifyUnauthorized } from "./auth";
import { SseByteParser } from "./sse";

export type Schemas = components["schemas"];

export class ApiError extends Error {
  status: number;
  code: string;
  field?: string;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}

export function isAbortError(e: unknown): boolean {
  return e instanceof DOMException ? e.name === "AbortError" : e instanceof Error && e.name === "AbortError";
}

// Every route the client calls; src/api/openapi.test.ts checks each against api/openapi.yaml.
export const ROUTES = {
  listRuns: { method: "GET", path: "/api/v1/runs" },
  getRun: { method: "GET", path: "/api/v1/runs/{run}" },
  cancelRun: { method: "POST", path: "/api/v1/runs/{run}/cancel" },
  cancelExperiment: { method: "POST", path: "/api/v1/runs/{run}/experiments/{experiment}/cancel" },
  rerunRun: { method: "POST", path: "/api/v1/runs/{run}/rerun" },
  listAttempts: { method: "GET", path: "/api/v1/runs/{run}/experiments/{experiment}/attempts" },
  getRunCost: { method: "GET", path: "/api/v1/runs/{run}/cost" },
  getRunMetrics: { method: "GET", path: "/api/v1/runs/{run}/metrics" },
  getMetricSeries: { method: "GET", path: "/api/v1/runs/{run}/metrics/series" },
  listArtifacts: { method: "GET", path: "/api/v1/runs/{run}/artifacts" },
  getBlob: { method: "GET", path: "/api/v1/blobs/{sha256}" },
  listNodes: { method: "GET", path: "/api/v1/nodes" },
  streamEvents: { method: "GET", path: "/api/v1/events" },
  streamLogs: { method: "GET", path: "/api/v1/runs/{run}/experiments/{experiment}/logs/stream" },
  streamMetrics: { method: "GET", path: "/api/v1/runs/{run}/metrics/stream" },
} as const;

export type RouteName = keyof typeof ROUTES;
export type Query = Record<string, string | number | undefined>;

// Fired on window with detail {connected: boolean} when a live stream connects or loses its server.
export const CONNECTION_EVENT = "lattice:connection";

// Fills `{name}` parts of a route's path, each percent-encoded.
export function routePath(route: RouteName, params: Record<string, string | number> = {}): string {
  return ROUTES[route].path.replace(/\{([a-z0-9_]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`route ${route} needs the path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}

// `?a=1&b=x` from the defined entries of `query` ("" when none).
export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.append(key, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function headers(accept: string, json: boolean): Headers {
  const h = new Headers({ Accept: accept });
  if (json) h.set("Content-Type", "application/json");
  const token = getToken();
  if (token !== null) h.set("Authorization", `Bearer ${token}`);
  return h;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// An ApiError from a failed answer: the Error document's code/message/field when the body is one.
export async function errorFromResponse(res: Response): Promise<ApiError> {
  if (res.status === 401) notifyUnauthorized();
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page, an empty body): fall back to the status line
  }
  const detail = isRecord(body) && isRecord(body.error) ? body.error : null;
  if (detail !== null && typeof detail.code === "string" && typeof detail.message === "string") {
    const field = typeof detail.field === "string" ? detail.field : undefined;
    return new ApiError(res.status, detail.code, detail.message, field);
  }
  const message = `${res.status} ${res.statusText || "error"}`.trim();
  return new ApiError(res.status, res.status === 401 ? "unauthenticated" : "http_error", message);
}

async function send(url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (isAbortError(e)) throw e;
    announceConnection(false);
    const why = e instanceof Error ? e.message : String(e);
    throw new ApiError(0, "unavailable", `cannot reach the server: ${why}`);
  }
  announceConnection(res.status < 500);
  return res;
}

async function requestJson<T>(
  route: RouteName,
  params: Record<string, string | number>,
  query: Query,
  options: { body?: unknown; signal?: AbortSignal | undefined } = {},
): Promise<T> {
  const hasBody = options.body !== undefined;
  const init: RequestInit = { method: ROUTES[route].method, headers: headers("application/json", hasBody) };
  if (hasBody) init.body = JSON.stringify(options.body);
  if (options.signal !== undefined) init.signal = options.signal;
  const res = await send(routePath(route, params) + queryString(query), init);
  if (!res.ok) throw await errorFromResponse(res);
  return (await res.json()) as T;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function announceConnection(connected: boolean): void {
  window.dispatchEvent(new CustomEvent(CONNECTION_EVENT, { detail: { connected } }));
}

// Answers that reconnecting cannot fix: the stream gives up and rejects with the ApiError.
function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

// Opens an SSE stream over fetch; calls onEvent(name, dataText) per event; reconnects after `retry` ms
// (server sends retry: 1000) until signal aborts or onEvent returns "stop". Resolves when aborted/stopped.
// `query` is read again at every (re)connection, so a caller may update it to resume where it left off.
export async function openEventStream(
  path: string,
  query: Query,
  onEvent: (event: string, data: string) => void | "stop",
  signal: AbortSignal,
): Promise<void> {
  let retryMs = 1000;
  while (!signal.aborted) {
    let res: Response | null = null;
    try {
      res = await fetch(path + queryString(query), { headers: headers("text/event-stream", false), signal });
    } catch (e) {
      if (isAbortError(e) || signal.aborted) return;
      res = null; // the server is unreachable: try again below
    }
    if (res !== null && !res.ok) {
      const err = await errorFromResponse(res);
      if (isPermanent(res.status)) throw err;
      res = null;
    }
    if (res !== null && res.body !== null) {
      announceConnection(true);
      const reader = res.body.getReader();
      const parser = new SseByteParser();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const parsed = parser.push(value);
          if (parsed.retry !== undefined) retryMs = parsed.retry;
          for (const ev of parsed.events) {
            if (onEvent(ev.event, ev.data) === "stop") {
              await reader.cancel().catch(() => undefined);
              return;
            }
          }
        }
      } catch (e) {
        if (isAbortError(e) || signal.aborted) return;
        // the connection broke mid-stream: reconnect below
      }
    }
    if (signal.aborted) return;
    announceConnection(false);
    await sleep(retryMs, signal);
  }
}

function parseData<T>(data: string): T | null {
  try {
    return JSON.parse(data) as T;
  } catch {
    return null; // a malformed event is skipped, not fatal to the stream
  }
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

// Drops the part of a log chunk that an earlier connection already delivered (after a reconnect).
export function trimSeenLog(
  chunk: Schemas["LogStreamChunk"],
  seenBytes: number,
): Schemas["LogStreamChunk"] | null {
  if (chunk.offset >= seenBytes) return chunk;
  const bytes = new TextEncoder().encode(chunk.text);
  const skip = seenBytes - chunk.offset;
  if (skip >= bytes.length) return null;
  return { attempt: chunk.attempt, offset: seenBytes, text: new TextDecoder().decode(bytes.subarray(skip)) };
}

function downloadUrl(url: string, filename: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export const api = {
  listRuns(
    q: { limit?: number; offset?: number; order?: "oldest" | "newest"; state?: string; q?: string },
    signal?: AbortSignal,
  ): Promise<Schemas["RunList"]> {
    const query: Query = { limit: q.limit, offset: q.offset, order: q.order, state: q.state || undefined };
    query.q = q.q || undefined;
    return requestJson("listRuns", {}, query, { signal });
  },
  getRun(run: string, signal?: AbortSignal): Promise<Schemas["Run"]> {
    return requestJson("getRun", { run }, {}, { signal });
  },
  cancelRun(run: string): Promise<Schemas["Run"]> {
    return requestJson("cancelRun", { run }, {}, { body: {} });
  },
  cancelExperiment(run: string, experiment: number): Promise<Schemas["Run"]> {
    return requestJson("cancelExperiment", { run, experiment }, {}, { body: {} });
  },
  rerunRun(run: string, body: Schemas["RerunRequest"]): Promise<Schemas["Run"]> {
    return requestJson("rerunRun", { run }, {}, { body });
  },
  getRunCost(run: string, signal?: AbortSignal): Promise<Schemas["RunCost"]> {
    return requestJson("getRunCost", { run }, {}, { signal });
  },
  listAttempts(run: string, experiment: number, signal?: AbortSignal): Promise<Schemas["AttemptList"]> {
    return requestJson("listAttempts", { run, experiment }, {}, { signal });
  },
  getRunMetrics(run: string, experiment?: number, signal?: AbortSignal): Promise<Schemas["RunMetrics"]> {
    return requestJson("getRunMetrics", { run }, { experiment }, { signal });
  },
  getMetricSeries(
    run: string,
    q: {
      key: string;
      experiments?: number[];
      max_points?: number;
      method?: "minmax" | "lttb";
      min_step?: number;
      max_step?: number;
    },
    signal?: AbortSignal,
  ): Promise<Schemas["MetricSeriesList"]> {
    const query: Query = {
      key: q.key,
      experiments: q.experiments === undefined ? undefined : q.experiments.join(","),
      max_points: q.max_points,
      method: q.method,
      min_step: q.min_step,
      max_step: q.max_step,
    };
    return requestJson("getMetricSeries", { run }, query, { signal });
  },
  listArtifacts(
    run: string,
    q: { experiment?: number; kind?: "artifact" | "checkpoint" | "all" },
    signal?: AbortSignal,
  ): Promise<Schemas["ArtifactList"]> {
    return requestJson("listArtifacts", { run }, { experiment: q.experiment, kind: q.kind }, { signal });
  },
  // Fetches with the token (a plain link could not send it), then saves the file under `filename`.
  async downloadBlob(sha256: string, filename: string): Promise<void> {
    const res = await send(routePath("getBlob", { sha256 }), { headers: headers("application/octet-stream", false) });
    if (!res.ok) throw await errorFromResponse(res);
    const url = URL.createObjectURL(await res.blob());
    try {
      downloadUrl(url, filename);
    } finally {
      // Revoked later: some browsers start reading the URL only after click() returns.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    }
  },
  listNodes(signal?: AbortSignal): Promise<Schemas["NodeList"]> {
    return requestJson("listNodes", {}, {}, { signal });
  },
  streamEvents(
    q: { run?: string; initial?: 0 | 1 },
    onRun: (r: Schemas["RunSummary"]) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const query: Query = { run: q.run, initial: q.initial };
    return openEventStream(
      routePath("streamEvents"),
      query,
      (event, data) => {
        if (event !== "run") return;
        const summary = parseData<Schemas["RunSummary"]>(data);
        if (summary !== null) onRun(summary);
      },
      signal,
    );
  },
  // Resolves after `end` (no reconnect after end). After a reconnect it resumes at the attempt and byte
  // it had reached, so no output is shown twice.
  streamLogs(
    run: string,
    experiment: number,
    q: { attempt?: number; offset?: number },
    on: { log(c: Schemas["LogStreamChunk"]): void; end(e: Schemas["LogStreamEnd"]): void },
    signal: AbortSignal,
  ): Promise<void> {
    const follow = q.attempt === undefined || q.attempt === 0;
    const query: Query = { attempt: q.attempt, offset: q.offset };
    const seen = new Map<number, number>(); // attempt -> bytes delivered
    let lastAttempt = 0;
    let resumed = false; // pinned to an attempt by a reconnect while following the newest
    return openEventStream(
      routePath("streamLogs", { run, experiment }),
      query,
      (event, data) => {
        if (event === "log") {
          const raw = parseData<Schemas["LogStreamChunk"]>(data);
          if (raw === null) return;
          const chunk = trimSeenLog(raw, seen.get(raw.attempt) ?? 0);
          if (chunk === null) return;
          lastAttempt = chunk.attempt;
          const total = chunk.offset + utf8Length(chunk.text);
          seen.set(chunk.attempt, total);
          // If the stream breaks, pick up exactly here.
          query.attempt = chunk.attempt;
          query.offset = total;
          resumed = follow;
          on.log(chunk);
          return;
        }
        if (event !== "end") return;
        const end = parseData<Schemas["LogStreamEnd"]>(data);
        if (end === null) return "stop";
        const terminal = end.state === "succeeded" || end.state === "failed" || end.state === "cancelled";
        if (resumed && !terminal && lastAttempt > 0) {
          // The pinned attempt ended but the experiment goes on: follow the newest attempt again.
          query.attempt = 0;
          query.offset = 0;
          resumed = false;
          return;
        }
        on.end(end);
        return "stop";
      },
      signal,
    );
  },
  streamMetrics(
    run: string,
    q: { experiment?: number; key?: string },
    onPoints: (p: Schemas["MetricPoints"]) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return openEventStream(
      routePath("streamMetrics", { run }),
      { experiment: q.experiment, key: q.key },
      (event, data) => {
        if (event !== "points") return;
        const points = parseData<Schemas["MetricPoints"]>(data);
        if (points !== null) onPoints(points);
      },
      signal,
    );
  },
};
