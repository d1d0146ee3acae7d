import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, openEventStream, queryString, routePath, trimSeenLog } from "./client";
import { clearToken, setToken, UNAUTHORIZED_EVENT as UNAUTHORIZED } from "./auth";

interface Call {
  url: string;
  init: RequestInit;
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function sseResponse(chunks: string[]): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(enc.encode(c));
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

function fakeFetch(answer: (call: Call, n: number) => Response): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal("fetch", (input: RequestInfo | URL, init?: RequestInit) => {
    const call = { url: String(input), init: init ?? {} };
    calls.push(call);
    return Promise.resolve(answer(call, calls.length - 1));
  });
  return calls;
}

function header(call: Call | undefined, name: string): string | null {
  return new Headers(call?.init.headers).get(name);
}

beforeEach(() => clearToken());
afterEach(() => vi.unstubAllGlobals());

describe("requests", () => {
  it("sends the token as a bearer header when one is stored", async () => {
    const calls = fakeFetch(() => jsonResponse(200, { runs: [], total: 0 }));
    await api.listRuns({});
    expect(header(calls[0], "Authorization")).toBeNull();
    setToken("s3cret");
    await api.listRuns({});
    expect(header(calls[1], "Authorization")).toBe("Bearer s3cret");
  });

  it("encodes the query and leaves out what is not given", async () => {
    const calls = fakeFetch(() => jsonResponse(200, { runs: [], total: 0 }));
    await api.listRuns({ limit: 100, offset: 200, order: "newest", state: "running,queued", q: "a b&c" });
    expect(calls[0]?.url).toBe("/api/v1/runs?limit=100&offset=200&order=newest&state=running%2Cqueued&q=a+b%26c");
    await api.listRuns({ q: "" });
    expect(calls[1]?.url).toBe("/api/v1/runs");
    await api.getMetricSeries("r/1", { key: "eval/acc", experiments: [0, 2], max_points: 2000 });
    expect(calls[2]?.url).toBe("/api/v1/runs/r%2F1/metrics/series?key=eval%2Facc&experiments=0%2C2&max_points=2000");
  });

  it("posts JSON bodies to the right route", async () => {
    const calls = fakeFetch(() => jsonResponse(201, { name: "r2" }));
    const run = await api.rerunRun("r1", { args: ["--lr", "[0.1, 0.2]"] });
    expect(run.name).toBe("r2");
    expect(calls[0]?.url).toBe("/api/v1/runs/r1/rerun");
    expect(calls[0]?.init.method).toBe("POST");
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ args: ["--lr", "[0.1, 0.2]"] });
    expect(header(calls[0], "Content-Type")).toBe("application/json");
  });

  it("turns a 401 into an ApiError and tells the app to ask for a token", async () => {
    fakeFetch(() => jsonResponse(401, { error: { code: "unauthenticated", message: "missing token" } }));
    const seen = vi.fn();
    window.addEventListener(UNAUTHORIZED, seen);
    const err = await api.getRun("r").catch((e: unknown) => e);
    window.removeEventListener(UNAUTHORIZED, seen);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthenticated", message: "missing token" });
    expect(seen).toHaveBeenCalledOnce();
  });

  it("keeps the field of an error and survives a body that is not JSON", async () => {
    fakeFetch((_, n) =>
      n === 0
        ? jsonResponse(400, { error: { code: "invalid_argument", message: "bad sweep", field: "args" } })
        : new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    );
    await expect(api.rerunRun("r", {})).rejects.toMatchObject({ status: 400, field: "args", message: "bad sweep" });
    await expect(api.listNodes()).rejects.toMatchObject({ status: 502, code: "http_error" });
  });

  it("builds paths and queries", () => {
    expect(routePath("streamLogs", { run: "a b", experiment: 3 })).toBe(
      "/api/v1/runs/a%20b/experiments/3/logs/stream",
    );
    expect(() => routePath("getRun")).toThrow(/run/);
    expect(queryString({ a: undefined, b: 0 })).toBe("?b=0");
  });
});

describe("event streams", () => {
  it("delivers events, reconnects after the stream closes and stops when asked", async () => {
    const calls = fakeFetch((_, n) =>
      sseResponse(n === 0 ? ["retry: 5\n\nevent: run\ndata: 1\n\n"] : ["event: run\nda", "ta: 2\n\n"]),
    );
    const got: string[] = [];
    const ctl = new AbortController();
    await openEventStream("/api/v1/events", { initial: 0 }, (event, data) => {
      got.push(`${event}:${data}`);
      return got.length === 2 ? "stop" : undefined;
    }, ctl.signal);
    expect(got).toEqual(["run:1", "run:2"]);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.url).toBe("/api/v1/events?initial=0");
  });

  it("resolves when aborted and rejects on a permanent error", async () => {
    fakeFetch(() => jsonResponse(404, { error: { code: "not_found", message: "no run x" } }));
    const ctl = new AbortController();
    await expect(openEventStream("/x", {}, () => undefined, ctl.signal)).rejects.toMatchObject({ status: 404 });
    ctl.abort();
    await expect(openEventStream("/x", {}, () => undefined, ctl.signal)).resolves.toBeUndefined();
  });

  it("resumes a log after a reconnect without repeating output, then ends", async () => {
    const calls = fakeFetch((_, n) =>
      n === 0
        ? sseResponse(["retry: 1\n\n", 'event: log\ndata: {"attempt":1,"offset":0,"text":"héllo\\n"}\n\n'])
        : sseResponse([
            'event: log\ndata: {"attempt":1,"offset":3,"text":"llo\\nworld\\n"}\n\n',
            'event: end\ndata: {"state":"succeeded","exit_code":0}\n\n',
          ]),
    );
    const text: string[] = [];
    const ends: unknown[] = [];
    await api.streamLogs("r", 0, {}, { log: (c) => text.push(c.text), end: (e) => ends.push(e) },
      new AbortController().signal);
    expect(text.join("")).toBe("héllo\nworld\n");
    expect(ends).toEqual([{ state: "succeeded", exit_code: 0 }]);
    expect(calls[1]?.url).toBe("/api/v1/runs/r/experiments/0/logs/stream?attempt=1&offset=7");
  });

  it("trims log chunks that overlap what was seen", () => {
    expect(trimSeenLog({ attempt: 1, offset: 0, text: "abc" }, 3)).toBeNull();
    expect(trimSeenLog({ attempt: 1, offset: 0, text: "abcd" }, 2)).toEqual({ attempt: 1, offset: 2, text: "cd" });
    expect(trimSeenLog({ attempt: 1, offset: 5, text: "x" }, 2)).toEqual({ attempt: 1, offset: 5, text: "x" });
  });
});
