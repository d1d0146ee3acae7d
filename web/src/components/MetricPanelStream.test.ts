import { afterEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";
import { MetricStreamHub } from "./MetricPanelStream";

interface Opened {
  run: string;
  q: { experiment?: number; key?: string };
  emit: (p: Schemas["MetricPoints"]) => void;
  signal: AbortSignal;
  fail: (e: Error) => void;
}

function fakeOpen(opened: Opened[]) {
  return (
    run: string,
    q: { experiment?: number; key?: string },
    emit: (p: Schemas["MetricPoints"]) => void,
    signal: AbortSignal,
  ) =>
    new Promise<void>((resolve, reject) => {
      opened.push({ run, q, emit, signal, fail: reject });
      signal.addEventListener("abort", () => resolve());
    });
}

const pts = (key: string): Schemas["MetricPoints"] => ({ experiment: 0, key, steps: [1], times: [1], values: [1] });

afterEach(() => {
  vi.useRealTimers();
});

describe("MetricStreamHub", () => {
  it("shares one stream per run and experiment among its subscribers", () => {
    const opened: Opened[] = [];
    const hub = new MetricStreamHub(fakeOpen(opened));
    const a: string[] = [];
    const b: string[] = [];
    hub.subscribe("r", 0, (p) => a.push(p.key), () => undefined);
    hub.subscribe("r", 0, (p) => b.push(p.key), () => undefined);
    hub.subscribe("r", undefined, () => undefined, () => undefined);
    expect(opened.map((o) => [o.run, o.q])).toEqual([
      ["r", { experiment: 0 }],
      ["r", {}],
    ]);
    opened[0]!.emit(pts("loss"));
    expect(a).toEqual(["loss"]);
    expect(b).toEqual(["loss"]);
  });

  it("closes a stream a while after its last subscriber left, unless one comes back", () => {
    vi.useFakeTimers();
    const opened: Opened[] = [];
    const hub = new MetricStreamHub(fakeOpen(opened));
    const stop1 = hub.subscribe("r", 1, () => undefined, () => undefined);
    stop1();
    vi.advanceTimersByTime(500);
    const stop2 = hub.subscribe("r", 1, () => undefined, () => undefined);
    vi.advanceTimersByTime(5000);
    expect(opened).toHaveLength(1);
    expect(opened[0]!.signal.aborted).toBe(false);
    stop2();
    vi.advanceTimersByTime(5000);
    expect(opened[0]!.signal.aborted).toBe(true);
    expect(hub.size).toBe(0);
  });

  it("reports a stream that failed to its subscribers and opens a new one next time", async () => {
    const opened: Opened[] = [];
    const hub = new MetricStreamHub(fakeOpen(opened));
    const errors: string[] = [];
    hub.subscribe("r", 2, () => undefined, (m) => errors.push(m));
    opened[0]!.fail(new Error("no such run"));
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toEqual(["no such run"]);
    hub.subscribe("r", 2, () => undefined, () => undefined);
    expect(opened).toHaveLength(2);
  });
});
