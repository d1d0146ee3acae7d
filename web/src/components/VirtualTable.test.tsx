import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { VirtualTable, type Column } from "./VirtualTable";

afterEach(cleanup);

const columns: Column[] = [
  { id: "a", header: "A", width: 100 },
  { id: "b", header: "B", width: 100, align: "right" },
];

describe("VirtualTable", () => {
  it("puts only the rows in view in the DOM and reports its window", () => {
    const onWindow = vi.fn();
    render(
      <VirtualTable
        testId="t"
        label="T"
        rowTestId="r"
        columns={columns}
        rowCount={10_000}
        row={(i) => ({ key: String(i), cells: [`row ${i}`, i], attrs: { "data-i": String(i) } })}
        onWindow={onWindow}
      />,
    );
    const rows = screen.getAllByTestId("r");
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(60);
    expect(rows[0]?.getAttribute("data-i")).toBe("0");
    expect(onWindow).toHaveBeenLastCalledWith(0, rows.length);
    expect(screen.getByTestId("t").getAttribute("aria-rowcount")).toBe("10001");
  });

  it("shows placeholders for rows not loaded and a message when empty", () => {
    const { rerender } = render(
      <VirtualTable testId="t" label="T" rowTestId="r" columns={columns} rowCount={3} row={() => null} />,
    );
    expect(screen.queryAllByTestId("r")).toHaveLength(0);
    expect(document.querySelectorAll("tr.placeholder")).toHaveLength(3);
    rerender(
      <VirtualTable testId="t" label="T" rowTestId="r" columns={columns} rowCount={0} row={() => null} empty="none" />,
    );
    expect(screen.getByText("none")).toBeTruthy();
  });

  it("moves the window when scrolled", async () => {
    render(
      <VirtualTable
        testId="t"
        label="T"
        rowTestId="r"
        columns={columns}
        rowCount={1000}
        row={(i) => ({ key: String(i), cells: [`row ${i}`, i], attrs: { "data-i": String(i) } })}
      />,
    );
    const box = screen.getByRole("region", { name: "T" });
    box.scrollTop = 32 * 500;
    fireEvent.scroll(box);
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    await screen.findByText("row 500");
    expect(screen.queryByText("row 0")).toBeNull();
  });
});
