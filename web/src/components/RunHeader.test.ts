import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { describeCost } from "./RunHeader";

function cost(over: Partial<Schemas["RunCost"]>): Schemas["RunCost"] {
  return {
    run: "r", cluster: "local", price_per_node_hour: 0, max_cost: 0, max_duration_ms: 0, cost: 0,
    rate_per_hour: 0, gpu_hours: 0, attempts: 1, experiments: [], ...over,
  };
}

describe("describeCost", () => {
  it("says free on an unpriced cluster", () => {
    expect(describeCost(cost({}))).toBe("free");
  });
  it("gives the cost, the run's limit and what it costs now", () => {
    expect(describeCost(cost({ price_per_node_hour: 8, cost: 1.2, max_cost: 50, rate_per_hour: 4.1 })))
      .toBe("$1.20 of $50.00 · $4.10/h now");
    expect(describeCost(cost({ price_per_node_hour: 8, cost: 3 }))).toBe("$3.00");
    // A cluster made free later still shows what the run cost.
    expect(describeCost(cost({ cost: 0.5 }))).toBe("$0.50");
  });
});
