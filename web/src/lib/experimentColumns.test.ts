import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import {
  allMetricKeys, defaultMetricKey, experimentCells, experimentColumns, experimentLabel, lastValues,
} from "./experimentColumns";
import { matchesFilter, parseFilter, sortRows } from "./sort";

function experiment(id: number, params: Record<string, string>, state: Schemas["ExperimentState"] = "succeeded") {
  const e: Schemas["Experiment"] = {
    id: String(id), state, args: [], exit_code: 0, attempts: 1, restarts: 0, node: "n1", reason: "",
    started_at: "2026-11-26T01:00:00.000Z", ended_at: "2026-11-26T01:00:30.000Z", gpus: [], params,
  };
  return e;
}

const run = {
  sweep: { strategy: "grid_search", seed: 0, trials: 0, parameters: ["lr"] },
  experiments: [experiment(0, { lr: "0.1", bs: "64" }), experiment(1, { lr: "0.01", bs: "64" }, "failed")],
} as unknown as Schemas["Run"];

const summary = (last: number | "NaN") => ({ count: 1, last, last_step: 1, min: 0, max: 1, nan_count: 0 });
const metrics: Schemas["RunMetrics"] = {
  run: "r",
  experiments: [
    {
      experiment: 0, state: "succeeded", params: {},
      metrics: { loss: summary(0.5), "system/cpu_percent": summary(9) },
    },
    { experiment: 1, state: "failed", params: {}, metrics: { loss: summary("NaN"), acc: summary(0.9) } },
  ],
};

describe("experiment columns", () => {
  it("gives clashing names a prefix", () => {
    const clash = {
      ...run,
      sweep: { ...run.sweep, parameters: ["State", "epoch"] },
      experiments: [experiment(0, { State: "x", epoch: "3" })],
    } as Schemas["Run"];
    const m: Schemas["RunMetrics"] = {
      run: "r", experiments: [{ experiment: 0, state: "succeeded", params: {}, metrics: { epoch: summary(2) } }],
    };
    const cols = experimentColumns(clash, m);
    expect(cols.paramCells).toEqual(["param.state", "epoch"]);
    expect(cols.metricCells).toEqual(["metric.epoch"]);
    const cells = experimentCells(clash.experiments[0]!, cols, lastValues(m).get(0), 0);
    expect([cells.get("state"), cells.get("param.state"), cells.get("epoch"), cells.get("metric.epoch")]).toEqual([
      "succeeded", "x", "3", 2,
    ]);
  });

  it("lists swept parameters first, then other params, and non-system metric keys", () => {
    expect(experimentColumns(run, metrics)).toEqual({
      params: ["lr", "bs"], metrics: ["acc", "loss"], paramCells: ["lr", "bs"], metricCells: ["acc", "loss"],
    });
    expect(allMetricKeys(metrics)).toEqual(["acc", "loss", "system/cpu_percent"]);
    expect(defaultMetricKey(["acc", "loss"])).toBe("loss");
    expect(defaultMetricKey(["system/x", "acc"])).toBe("acc");
    expect(defaultMetricKey([])).toBeNull();
  });

  it("builds cells that filters and sorting use", () => {
    const cols = experimentColumns(run, metrics);
    const last = lastValues(metrics);
    const rows = run.experiments.map((e) => experimentCells(e, cols, last.get(Number(e.id)), 0));
    expect(rows[0]?.get("duration")).toBe(30);
    expect(rows[1]?.get("loss")).toBeNaN();
    const kept = rows.filter((c) => matchesFilter(c, parseFilter("lr=1e-2 state:fail")));
    expect(kept.map((c) => c.get("id"))).toEqual([1]);
    expect(sortRows(rows, (c) => c.get("lr"), "asc").map((c) => c.get("id"))).toEqual([1, 0]);
    expect(experimentLabel(run.experiments[1]!, cols.params)).toBe("#1 lr=0.01 bs=64");
  });
});
