import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { clearToken } from "./api/auth";
import { App } from "./App";
import { initPerf } from "./lib/perf";

// The charts (uPlot needs a real browser) are not what this tests.
vi.mock("./components/MetricPanel", () => ({ MetricPanel: () => null }));
vi.mock("./components/SystemMetrics", () => ({ SystemMetrics: () => null }));

function summary(i: number) {
  return {
    name: `run-${i}`, state: i % 2 ? "running" : "succeeded", description: "", created_at: "2026-11-26T01:00:00.000Z",
    experiments: 2, experiment_states: { running: 1, succeeded: 1 } as Record<string, number>, script: "train.py",
    gpus: 1, cluster: "local",
    started_at: "2026-11-26T01:00:01.000Z", ended_at: "",
  };
}

// A server holding 1,000 runs that wants the token "t0k"; change() alters a run and sends its event.
function fakeServer() {
  const seen: { url: string; auth: string | null }[] = [];
  const overrides = new Map<string, Partial<ReturnType<typeof summary>>>();
  const streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  const runs = () =>
    Array.from({ length: 1000 }, (_, i) => ({ ...summary(999 - i), ...overrides.get(`run-${999 - i}`) }));
  vi.stubGlobal("fetch", (input: string, init: RequestInit = {}) => {
    const auth = new Headers(init.headers).get("Authorization");
    seen.push({ url: input, auth });
    if (auth !== "Bearer t0k") {
      return Promise.resolve(new Response(JSON.stringify({ error: { code: "unauthenticated", message: "no" } }),
        { status: 401 }));
    }
    const url = new URL(input, "http://x");
    if (url.pathname === "/api/v1/events") {
      // Open until the page goes away.
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("retry: 1000\n\n"));
          streams.push(c);
          init.signal?.addEventListener("abort", () => c.error(new DOMException("aborted", "AbortError")));
        },
      });
      return Promise.resolve(new Response(body, { status: 200 }));
    }
    const offset = Number(url.searchParams.get("offset") ?? 0);
    const limit = Number(url.searchParams.get("limit") ?? 1000);
    const q = url.searchParams.get("q") ?? "";
    const all = runs().filter((r) => r.name.includes(q));
    return Promise.resolve(
      new Response(JSON.stringify({ runs: all.slice(offset, offset + limit), total: all.length }), { status: 200 }),
    );
  });
  const change = (name: string, fields: Partial<ReturnType<typeof summary>>) => {
    overrides.set(name, fields);
    const doc = runs().find((r) => r.name === name);
    const text = `event: run\ndata: ${JSON.stringify(doc)}\n\n`;
    for (const c of streams) c.enqueue(new TextEncoder().encode(text));
  };
  return Object.assign(seen, { change });
}

beforeEach(() => {
  clearToken();
  window.history.replaceState(null, "", "/");
  initPerf();
  vi.stubGlobal("scrollTo", () => undefined); // jsdom has no scrolling
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("App", () => {
  it("asks for the token on 401, then shows the newest runs a page at a time", async () => {
    const seen = fakeServer();
    render(<App />);
    fireEvent.change(await screen.findByTestId("signin-token"), { target: { value: "t0k" } });
    fireEvent.click(screen.getByTestId("signin-submit"));
    await waitFor(() => expect(screen.getByTestId("runs-total").textContent).toBe("1000 runs"));
    const rows = screen.getAllByTestId("run-row");
    expect(rows[0]?.getAttribute("data-run")).toBe("run-999");
    expect(rows.length).toBeLessThan(100);
    const listCalls = seen.filter((s) => s.url.startsWith("/api/v1/runs?") && s.auth !== null);
    expect(listCalls[0]?.url).toBe("/api/v1/runs?limit=100&offset=0&order=newest");
    expect(window.__latticePerf?.some((m) => m.name === "runs-interactive")).toBe(true);
  });

  it("searches after the typing stops and takes the token from the URL", async () => {
    window.history.replaceState(null, "", "/#token=t0k");
    const { adoptTokenFromUrl } = await import("./api/auth");
    adoptTokenFromUrl();
    expect(window.location.hash).toBe("");
    const seen = fakeServer();
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("runs-total").textContent).toBe("1000 runs"));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    fireEvent.change(screen.getByTestId("runs-search"), { target: { value: "run-99" } });
    fireEvent.change(screen.getByTestId("runs-search"), { target: { value: "run-998" } });
    await act(async () => {
      vi.advanceTimersByTime(300);
    });
    vi.useRealTimers();
    await waitFor(() => expect(screen.getByTestId("runs-total").textContent).toBe("1 run"));
    expect(seen.filter((s) => s.url.includes("q=")).map((s) => s.url)).toEqual([
      "/api/v1/runs?limit=100&offset=0&order=newest&q=run-998",
    ]);
    expect(window.location.search).toBe("?q=run-998"); // kept in the address for reloads and links
  });

  it("updates a run in view when its event arrives", async () => {
    window.history.replaceState(null, "", "/#token=t0k");
    const { adoptTokenFromUrl } = await import("./api/auth");
    adoptTokenFromUrl();
    const server = fakeServer();
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("runs-total").textContent).toBe("1000 runs"));
    const row = () => document.querySelector('[data-run="run-997"] .badge')?.textContent;
    expect(row()).toBe("running");
    await waitFor(() => expect(server.some((s) => s.url.startsWith("/api/v1/events"))).toBe(true));
    server.change("run-997", { state: "failed", experiment_states: { succeeded: 1, failed: 1 } });
    await waitFor(() => expect(row()).toBe("failed"));
  });

  it("navigates with the header links", async () => {
    fakeServer();
    render(<App />);
    fireEvent.click(screen.getByTestId("nav-nodes"));
    expect(window.location.pathname).toBe("/nodes");
    expect(await screen.findByRole("heading", { name: "Nodes" })).toBeTruthy();
  });
});
