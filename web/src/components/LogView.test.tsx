import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../api/client";

interface Handlers {
  log(c: Schemas["LogStreamChunk"]): void;
  end(e: Schemas["LogStreamEnd"]): void;
}

interface Opened {
  run: string;
  experiment: number;
  query: { attempt?: number; offset?: number };
  on: Handlers;
  signal: AbortSignal;
}

// A stand-in for the log stream: the test feeds chunks through the handlers LogView passes in.
const streams: Opened[] = [];

vi.mock("../api/client", () => ({
  isAbortError: (e: unknown) => e instanceof Error && e.name === "AbortError",
  api: {
    streamLogs(
      run: string,
      experiment: number,
      query: { attempt?: number; offset?: number },
      on: Handlers,
      signal: AbortSignal,
    ): Promise<void> {
      streams.push({ run, experiment, query, on, signal });
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve()));
    },
  },
}));

const { LogView } = await import("./LogView");

function latest(): Opened {
  const s = streams[streams.length - 1];
  if (s === undefined) throw new Error("no stream was opened");
  return s;
}

let offset = 0;
async function feed(text: string, attempt = 1) {
  await act(async () => {
    latest().on.log({ attempt, offset, text });
    offset += text.length;
    await new Promise((r) => requestAnimationFrame(() => r(undefined)));
  });
}

const lineTexts = () => screen.queryAllByTestId("log-line").map((el) => el.textContent);

beforeEach(() => {
  streams.length = 0;
  offset = 0;
});
afterEach(cleanup);

describe("LogView", () => {
  it("says it waits for the first attempt, then streams lines as text", async () => {
    render(<LogView run="r" experiment={2} attempts={0} active />);
    expect(screen.getByTestId("log-view").textContent).toContain("waiting for the first attempt");
    expect(latest()).toMatchObject({ run: "r", experiment: 2, query: {} });
    await feed("hello\n<b>not bold</b>\npart");
    expect(lineTexts()).toEqual(["hello", "<b>not bold</b>", "part"]);
    expect(screen.getByTestId("log-view").querySelector("b")).toBeNull();
    await feed("ial\n");
    expect(lineTexts()).toEqual(["hello", "<b>not bold</b>", "partial"]);
  });

  it("colours ANSI escapes with classes and dims rank prefixes", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    await feed("[rank 1] \x1b[1;31merror\x1b[0m done\n");
    const line = screen.getByTestId("log-line");
    expect(line.textContent).toBe("[rank 1] error done");
    expect(line.querySelector(".log-rank-prefix")?.textContent).toBe("[rank 1] ");
    expect(line.querySelector(".ansi-fg-1.ansi-bold")?.textContent).toBe("error");
  });

  it("gives a search match the mark's colours instead of the text's own", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    await feed("\x1b[38;2;200;200;0mloss\x1b[0m 1\n");
    await act(async () => {
      fireEvent.change(screen.getByTestId("log-search"), { target: { value: "loss" } });
    });
    const mark = screen.getByTestId("log-line").querySelector("mark");
    expect(mark?.textContent).toBe("loss");
    expect(mark?.getAttribute("style")).toBeNull();
  });

  it("filters by rank and lists the ranks seen", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    await feed("[rank 0] a\n[rank 1] b\n[rank 0] c\n");
    const select = screen.getByTestId("log-rank") as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["", "0", "1"]);
    fireEvent.change(select, { target: { value: "1" } });
    expect(lineTexts()).toEqual(["[rank 1] b"]);
    fireEvent.change(select, { target: { value: "" } });
    expect(lineTexts()).toHaveLength(3);
  });

  it("counts and highlights search matches and steps through them", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    await feed("Loss 1\nacc\nloss 2\n");
    const search = screen.getByTestId("log-search");
    await act(async () => {
      fireEvent.change(search, { target: { value: "LOSS" } });
    });
    expect(screen.getByTestId("log-search-count").textContent).toBe("2 lines");
    expect(screen.getAllByText(/loss/i, { selector: "mark" })).toHaveLength(2);
    fireEvent.keyDown(search, { key: "Enter" });
    expect(screen.getByTestId("log-search-count").textContent).toBe("1 of 2 lines");
    expect(document.querySelector(".log-line-current")?.textContent).toBe("Loss 1");
    fireEvent.keyDown(search, { key: "Enter" });
    expect(document.querySelector(".log-line-current")?.textContent).toBe("loss 2");
    fireEvent.keyDown(search, { key: "Enter", shiftKey: true });
    expect(document.querySelector(".log-line-current")?.textContent).toBe("Loss 1");
  });

  it("renders only the lines in view", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    const many = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join("\n") + "\n";
    await feed(many);
    // A large chunk is taken in over several frames; following, the newest line ends up in view.
    await waitFor(() => expect(lineTexts()).toContain("line 19999"));
    const shown = lineTexts();
    expect(shown.length).toBeLessThan(200);
  });

  it("shows the end state and exit code", async () => {
    render(<LogView run="r" experiment={0} attempts={1} />);
    await feed("bye");
    await act(async () => latest().on.end({ state: "failed", exit_code: 3 }));
    expect(screen.getByTestId("log-status").textContent).toContain("ended: failed, exit code 3");
    expect(lineTexts()).toEqual(["bye"]);
  });

  it("opens the chosen attempt's stream and closes the old one", async () => {
    render(<LogView run="r" experiment={1} attempts={2} active />);
    const first = latest();
    const select = screen.getByTestId("log-attempt") as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["0", "1", "2"]);
    await act(async () => {
      fireEvent.change(select, { target: { value: "1" } });
    });
    expect(first.signal.aborted).toBe(true);
    expect(latest().query).toEqual({ attempt: 1 });
  });

  it("separates the output of a newer attempt when following", async () => {
    render(<LogView run="r" experiment={0} attempts={2} active />);
    await feed("first\n", 1);
    offset = 0;
    await feed("second\n", 2);
    expect(lineTexts()).toEqual(["first", "── attempt 2 ──", "second"]);
  });

  it("stops following when scrolled up and jumps back to the end", async () => {
    render(<LogView run="r" experiment={0} attempts={1} active />);
    await feed(Array.from({ length: 500 }, (_, i) => `l${i}`).join("\n") + "\n");
    const jump = screen.getByTestId("log-jump-end");
    expect(jump.getAttribute("aria-pressed")).toBe("true");
    const scroller = screen.getByTestId("log-view");
    // jsdom has no layout: give the scroller a viewport and the content's height.
    Object.defineProperty(scroller, "clientHeight", { configurable: true, get: () => 360 });
    Object.defineProperty(scroller, "scrollHeight", { configurable: true, get: () => 500 * 18 });
    fireEvent.keyDown(scroller, { key: "Home" });
    fireEvent.scroll(scroller);
    expect(jump.getAttribute("aria-pressed")).toBe("false");
    fireEvent.click(jump);
    expect(jump.getAttribute("aria-pressed")).toBe("true");
  });
});
