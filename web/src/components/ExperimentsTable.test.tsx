import { afterEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import type { Schemas } from "../api/client";
import { experimentColumns, lastValues } from "../lib/experimentColumns";
import { ExperimentsTable } from "./ExperimentsTable";

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

function experiment(id: number, lr: string, state: Schemas["ExperimentState"]): Schemas["Experiment"] {
  return {
    id: String(id), state, args: ["--lr", lr], exit_code: null, attempts: 1, restarts: 0, node: "n1", reason: "",
    started_at: "", ended_at: "", gpus: [], params: { lr },
  };
}

const lrs = ["0.1", "0.01", "1", "0.5", "10"];
const run = {
  name: "r",
  sweep: { strategy: "grid_search", seed: 0, trials: 0, parameters: ["lr"] },
  experiments: lrs.map((lr, i) => experiment(i, lr, i === 3 ? "failed" : "succeeded")),
} as unknown as Schemas["Run"];

const ids = () => screen.getAllByTestId("experiment-row").map((r) => r.getAttribute("data-experiment"));

describe("ExperimentsTable", () => {
  it("sorts by a parameter numerically, both ways, and filters", async () => {
    vi.useFakeTimers();
    const onToggle = vi.fn();
    render(
      <ExperimentsTable
        run={run}
        columns={experimentColumns(run, null)}
        last={lastValues(null)}
        selected={new Set([0])}
        onToggle={onToggle}
      />,
    );
    expect(ids()).toEqual(["0", "1", "2", "3", "4"]);
    fireEvent.click(screen.getByRole("button", { name: /^lr, sort ascending/ }));
    expect(ids()).toEqual(["1", "0", "3", "2", "4"]);
    fireEvent.click(screen.getByRole("button", { name: /^lr, sort descending/ }));
    expect(ids()).toEqual(["4", "2", "3", "0", "1"]);

    fireEvent.change(screen.getByTestId("experiments-filter"), { target: { value: "lr>=0.5 state:succ" } });
    await act(async () => {
      vi.advanceTimersByTime(200);
    });
    expect(ids()).toEqual(["4", "2"]);

    const boxes = screen.getAllByTestId("experiment-select") as HTMLInputElement[];
    expect(boxes.map((b) => b.checked)).toEqual([false, false]);
    fireEvent.click(boxes[0]!);
    expect(onToggle).toHaveBeenCalledWith(4);
  });

  it("names an unknown filter column", async () => {
    vi.useFakeTimers();
    render(
      <ExperimentsTable run={run} columns={experimentColumns(run, null)} last={lastValues(null)} selected={new Set()}
        onToggle={() => undefined} />,
    );
    fireEvent.change(screen.getByTestId("experiments-filter"), { target: { value: "momentum=0.9" } });
    await act(async () => {
      vi.advanceTimersByTime(200);
    });
    expect(screen.getByText(/No column named momentum/)).toBeTruthy();
    expect(screen.queryAllByTestId("experiment-row")).toHaveLength(0);
  });
});
