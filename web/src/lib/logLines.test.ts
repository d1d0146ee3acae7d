import { describe, expect, it } from "vitest";
import { LineView, LogBuffer, matchRanges, splitByRanges, splitText, type LogLine } from "./logLines";

const E = "\x1b";

function allTexts(buf: LogBuffer): string[] {
  const out: string[] = [];
  for (let s = buf.firstSeq; s <= buf.endSeq; s++) {
    const l = buf.lineAt(s);
    if (l !== undefined) out.push(l.prefix + l.text);
  }
  return out;
}

function viewTexts(view: LineView): string[] {
  const out: string[] = [];
  for (let i = 0; i < view.length; i++) {
    const l = view.lineAt(i) as LogLine;
    out.push(l.prefix + l.text);
  }
  return out;
}

describe("LogBuffer", () => {
  it("splits chunks into lines and keeps the partial last one as the tail", () => {
    const buf = new LogBuffer();
    buf.beginAttempt(1);
    buf.append("one\ntw");
    expect(buf.completeCount).toBe(1);
    expect(buf.tail()?.text).toBe("tw");
    buf.append("o\nthree");
    expect(allTexts(buf)).toEqual(["one", "two", "three"]);
    buf.finish();
    expect(buf.tail()).toBeNull();
    expect(buf.completeCount).toBe(3);
    expect(buf.lineAt(2)?.attempt).toBe(1);
  });

  it("joins an escape sequence split across chunks", () => {
    const buf = new LogBuffer();
    buf.append(`a${E}[3`);
    expect(buf.tail()?.text).toBe("a");
    buf.append(`1mred\nstill red${E}[0m\nplain\n`);
    const red = buf.lineAt(0)!;
    expect(red.text).toBe("ared");
    expect(red.segments[1]!.style.fg).toEqual({ kind: "base", index: 1 });
    expect(buf.lineAt(1)!.segments[0]!.style.fg).toEqual({ kind: "base", index: 1 });
    expect(buf.lineAt(2)!.segments[0]!.style.fg).toBeNull();
  });

  it("shows a progress bar's latest state, also while its line is open", () => {
    const buf = new LogBuffer();
    buf.append(" 10%|#\r");
    buf.append(" 50%|###\r 70%|####");
    expect(buf.tail()?.text).toBe(" 70%|####");
    buf.append("\r100%|#####|\r\n");
    expect(allTexts(buf)).toEqual(["100%|#####|"]);
  });

  it("keeps a long progress line small without changing what shows", () => {
    const buf = new LogBuffer();
    buf.append(`[rank 1] ${E}[32m`);
    for (let i = 0; i < 5000; i++) buf.append(`\rstep ${i} ${"#".repeat(i % 40)}`);
    const tail = buf.tail()!;
    expect(tail.text).toBe(`step 4999 ${"#".repeat(4999 % 40)}`);
    expect(tail.rank).toBe(1);
    expect(tail.segments[0]!.style.fg).toEqual({ kind: "base", index: 2 });
    buf.append("\n");
    expect(buf.lineAt(0)!.text).toBe(tail.text);
  });

  it("parses rank prefixes, keeps them visible and tracks each rank's escape state", () => {
    const buf = new LogBuffer();
    buf.append(`[rank 0] ${E}[31mred\n[rank 1] plain\n[rank 0] still red\nno rank\n[rank 10] x\n`);
    const lines = [0, 1, 2, 3, 4].map((s) => buf.lineAt(s)!);
    expect(lines.map((l) => l.rank)).toEqual([0, 1, 0, null, 10]);
    expect(lines[0]!.prefix).toBe("[rank 0] ");
    expect(lines[0]!.text).toBe("red");
    expect(lines[1]!.segments[0]!.style.fg).toBeNull();
    expect(lines[2]!.segments[0]!.style.fg).toEqual({ kind: "base", index: 1 });
    expect(buf.ranks()).toEqual([0, 1, 10]);
  });

  it("drops the oldest lines beyond its limit and counts them", () => {
    const buf = new LogBuffer(3);
    buf.append("a\nb\nc\nd\ne\n");
    expect(buf.dropped).toBe(2);
    expect(buf.firstSeq).toBe(2);
    expect(allTexts(buf)).toEqual(["c", "d", "e"]);
    expect(buf.lineAt(1)).toBeUndefined();
    for (let i = 0; i < 5000; i++) buf.append(`${i}\n`);
    expect(buf.completeCount).toBe(3);
    expect(allTexts(buf)).toEqual(["4997", "4998", "4999"]);
    expect(buf.dropped).toBe(5002);
  });

  it("marks where a new attempt's output starts and resets the escape state", () => {
    const buf = new LogBuffer();
    buf.beginAttempt(1);
    buf.append(`${E}[31mfirst\npartial`);
    buf.beginAttempt(2);
    buf.append("second\n");
    const texts = allTexts(buf);
    expect(texts).toEqual(["first", "partial", "── attempt 2 ──", "second"]);
    expect(buf.lineAt(2)!.marker).toBe(true);
    expect(buf.lineAt(3)!.attempt).toBe(2);
    expect(buf.lineAt(3)!.segments[0]!.style.fg).toBeNull();
  });

  it("rejects a limit below one", () => {
    expect(() => new LogBuffer(0)).toThrow(/maxLines/);
  });
});

describe("LineView", () => {
  it("filters by rank incrementally, with markers and the tail", () => {
    const buf = new LogBuffer();
    buf.beginAttempt(1);
    buf.append("[rank 0] a\n[rank 1] b\n[rank 0] c\n");
    const view = new LineView(buf, 1, "");
    expect(viewTexts(view)).toEqual(["[rank 1] b"]);
    buf.append("[rank 1] d\n[rank 1] part");
    view.refresh();
    expect(viewTexts(view)).toEqual(["[rank 1] b", "[rank 1] d", "[rank 1] part"]);
    buf.beginAttempt(2);
    buf.append("[rank 0] e\n");
    view.refresh();
    expect(viewTexts(view)).toEqual(["[rank 1] b", "[rank 1] d", "[rank 1] part", "── attempt 2 ──"]);
  });

  it("shows every line without a rank filter", () => {
    const buf = new LogBuffer();
    buf.append("x\ny\nz");
    const view = new LineView(buf, null, "");
    expect(view.length).toBe(3);
    expect(viewTexts(view)).toEqual(["x", "y", "z"]);
  });

  it("finds matching lines case-insensitively, including new ones and the tail", () => {
    const buf = new LogBuffer();
    buf.append("Loss 1\nacc\nLOSS 2\n");
    const view = new LineView(buf, null, "loss");
    expect(view.matchCount).toBe(2);
    expect(view.matchSeq(0)).toBe(0);
    expect(view.matchSeq(1)).toBe(2);
    buf.append("nothing\nloss 3 (partial");
    view.refresh();
    expect(view.matchCount).toBe(3);
    expect(view.matchSeq(2)).toBe(4);
  });

  it("lets go of matches and lines that were dropped", () => {
    const buf = new LogBuffer(2);
    buf.append("[rank 0] hit\n[rank 0] miss\n");
    const view = new LineView(buf, 0, "hit");
    expect(view.matchCount).toBe(1);
    buf.append("[rank 0] other\n");
    view.refresh();
    expect(view.matchCount).toBe(0);
    expect(viewTexts(view)).toEqual(["[rank 0] miss", "[rank 0] other"]);
  });

  it("steps to the next and previous match, wrapping around", () => {
    const buf = new LogBuffer();
    buf.append("a\nhit\nb\nhit\nc\n");
    const view = new LineView(buf, null, "hit");
    expect(view.stepMatch(0, 1)).toBe(0);
    expect(view.stepMatch(1, 1)).toBe(1); // from the first match on to the second
    expect(view.stepMatch(3, 1)).toBe(0); // wraps
    expect(view.stepMatch(2, -1)).toBe(0);
    expect(view.stepMatch(1, -1)).toBe(1); // wraps back
    expect(new LineView(buf, null, "none").stepMatch(0, 1)).toBe(-1);
  });

  it("maps seqs to positions in a rank filter", () => {
    const buf = new LogBuffer();
    buf.append("[rank 0] a\n[rank 1] b\n[rank 1] c\n");
    const view = new LineView(buf, 1, "");
    expect(view.positionOfSeq(1)).toBe(0);
    expect(view.positionOfSeq(2)).toBe(1);
    expect(view.positionOfSeq(0)).toBe(0);
  });

  it("gives match ranges over prefix and text", () => {
    const buf = new LogBuffer();
    buf.append("[rank 2] Rank two\n");
    const view = new LineView(buf, null, "rank");
    expect(view.ranges(buf.lineAt(0)!)).toEqual([
      [1, 5],
      [9, 13],
    ]);
  });
});

describe("matchRanges", () => {
  it("finds every occurrence without overlap", () => {
    expect(matchRanges("aaaa", "aa")).toEqual([
      [0, 2],
      [2, 4],
    ]);
    expect(matchRanges("Hello", "")).toEqual([]);
  });
});

describe("splitByRanges", () => {
  it("cuts styled pieces at match edges", () => {
    const pieces = [{ text: "abc" }, { text: "def" }];
    const out = splitByRanges(pieces, [
      [1, 4],
      [5, 6],
    ]);
    expect(out.map((p) => [p.text, p.marked, p.piece === pieces[0]])).toEqual([
      ["a", false, true],
      ["bc", true, true],
      ["d", true, false],
      ["e", false, false],
      ["f", true, false],
    ]);
  });

  it("returns pieces unchanged without ranges", () => {
    const out = splitByRanges([{ text: "abc" }], []);
    expect(out).toEqual([{ piece: { text: "abc" }, text: "abc", marked: false }]);
  });
});

describe("splitText", () => {
  it("cuts after newlines near the limit and loses nothing", () => {
    const text = "aaaa\nbbbb\ncccc\ndd";
    const parts = splitText(text, 6);
    expect(parts.join("")).toBe(text);
    expect(parts).toEqual(["aaaa\n", "bbbb\n", "cccc\n", "dd"]);
  });

  it("cuts a long line without newlines at the limit", () => {
    expect(splitText("abcdefg", 3)).toEqual(["abc", "def", "g"]);
    expect(splitText("ab", 3)).toEqual(["ab"]);
  });
});
