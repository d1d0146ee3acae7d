import { describe, expect, it } from "vitest";
import { asNumber, compareCells, matchesFilter, parseFilter, sortRows, unknownKeys, type Cell } from "./sort";

describe("compareCells and sortRows", () => {
  it("compares numbers by value, text naturally, empties last", () => {
    expect(compareCells("10", "9")).toBe(1);
    expect(compareCells("1e-3", "0.01")).toBe(-1);
    expect(compareCells("run-2", "run-10")).toBeLessThan(0);
    expect(compareCells(5, "abc")).toBe(-1);
    expect(compareCells("", 3)).toBe(1);
    expect(compareCells(NaN, 3)).toBe(1);
  });

  it("sorts stably in both directions with empty cells at the end", () => {
    const rows = [{ v: "10" }, { v: "" }, { v: "9" }, { v: "100" }, { v: "9" }];
    const ids = (r: { v: string }[]) => r.map((x) => rows.indexOf(x));
    expect(ids(sortRows(rows, (r) => r.v, "asc"))).toEqual([2, 4, 0, 3, 1]);
    expect(ids(sortRows(rows, (r) => r.v, "desc"))).toEqual([3, 0, 2, 4, 1]);
  });

  it("reads numbers as people write them", () => {
    expect(asNumber(" 1e-3 ")).toBe(0.001);
    expect(asNumber(".5")).toBe(0.5);
    expect(asNumber("0x10")).toBeNull();
    expect(asNumber("adam")).toBeNull();
    expect(asNumber("")).toBeNull();
  });
});

describe("filters", () => {
  const row = (cells: Record<string, Cell>) => new Map(Object.entries(cells));
  const exp = row({ id: 3, state: "failed", lr: "0.010", optimizer: "sgd", loss: 0.42, node: "gpu-1" });

  it("parses field terms and free text", () => {
    expect(parseFilter(`LR=0.01 state:failed "two words" loss<=1`)).toEqual([
      { kind: "field", key: "lr", op: "=", value: "0.01" },
      { kind: "field", key: "state", op: ":", value: "failed" },
      { kind: "text", text: "two words" },
      { kind: "field", key: "loss", op: "<=", value: "1" },
    ]);
    expect(parseFilter("  ")).toEqual([]);
    expect(parseFilter(`"unfinished`)).toEqual([{ kind: "text", text: `"unfinished` }]);
  });

  it("matches equality numerically, substrings and comparisons", () => {
    const yes = ["lr=0.01", "lr=1e-2", "state:fail", "loss<0.5", "loss>=0.42", "optimizer!=adam", "sgd", "GPU-1 3"];
    for (const f of yes) expect(matchesFilter(exp, parseFilter(f)), f).toBe(true);
    const no = [
      "lr=0.1", "state:succ", "loss>0.5", "optimizer=adam", "adam", "momentum=0.9", "optimizer<3", "sgd adam",
    ];
    for (const f of no) expect(matchesFilter(exp, parseFilter(f)), f).toBe(false);
  });

  it("names the keys that no column has", () => {
    expect(unknownKeys(parseFilter("lr=1 Momentum=2 text"), ["lr", "state"])).toEqual(["momentum"]);
  });
});
