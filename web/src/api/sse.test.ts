import { describe, expect, it } from "vitest";
import { SseByteParser, SseParser, type SseEvent } from "./sse";

function parseAll(pieces: string[]): { events: SseEvent[]; retry?: number } {
  const p = new SseParser();
  const events: SseEvent[] = [];
  let retry: number | undefined;
  for (const piece of pieces) {
    const r = p.push(piece);
    events.push(...r.events);
    if (r.retry !== undefined) retry = r.retry;
  }
  return retry === undefined ? { events } : { events, retry };
}

const STREAM =
  "retry: 1000\n\n" +
  ": keep-alive comment\n" +
  "event: log\ndata: {\"text\":\"héllo ✓\"}\n\n" +
  "event: run\r\ndata: line one\r\ndata: line two\r\n\r\n" +
  "data:no space\rid: 7\r\r" +
  "event: end\ndata\n\n";

const EXPECTED: SseEvent[] = [
  { event: "log", data: '{"text":"héllo ✓"}', id: "" },
  { event: "run", data: "line one\nline two", id: "" },
  { event: "message", data: "no space", id: "7" },
  { event: "end", data: "", id: "7" },
];

describe("SseParser", () => {
  it("parses events, comments, CRLF and CR endings, multi-line data and retry", () => {
    expect(parseAll([STREAM])).toEqual({ events: EXPECTED, retry: 1000 });
  });

  it("gives the same events when the text is split at every position", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(parseAll([STREAM.slice(0, i), STREAM.slice(i)]).events).toEqual(EXPECTED);
    }
  });

  it("gives the same events when fed one character at a time", () => {
    expect(parseAll([...STREAM]).events).toEqual(EXPECTED);
  });

  it("does not dispatch an event before its blank line, nor one without data", () => {
    expect(parseAll(["event: run\ndata: x\n"]).events).toEqual([]);
    expect(parseAll(["event: run\n\n"]).events).toEqual([]);
  });

  it("ignores a retry that is not a number and unknown fields", () => {
    expect(parseAll(["retry: soon\nfoo: bar\ndata: x\n\n"])).toEqual({
      events: [{ event: "message", data: "x", id: "" }],
    });
  });

  it("keeps a colon inside the value", () => {
    expect(parseAll(["data: a: b\n\n"]).events[0]?.data).toBe("a: b");
  });
});

describe("SseByteParser", () => {
  it("joins UTF-8 sequences split at every byte boundary", () => {
    const bytes = new TextEncoder().encode(STREAM);
    for (let i = 0; i <= bytes.length; i++) {
      const p = new SseByteParser();
      const events = [...p.push(bytes.subarray(0, i)).events, ...p.push(bytes.subarray(i)).events];
      expect(events).toEqual(EXPECTED);
    }
  });
});
