// A server-sent events parser (https://html.spec.whatwg.org/multipage/server-sent-events.html),
// kept free of I/O so that every way a stream can be cut into chunks can be tested.

export interface SseEvent {
  event: string; // "message" when the stream named none
  data: string;
  id: string;
}

export interface SseParseResult {
  events: SseEvent[];
  retry?: number; // the last `retry:` the chunk carried, in ms
}

// Feeds decoded text in arbitrary pieces; a line ending split across two pieces (CR then LF) is one ending.
export class SseParser {
  private buffer = "";
  private pendingCr = false;
  private data: string[] = [];
  private hasData = false;
  private eventType = "";
  private lastId = "";

  push(text: string): SseParseResult {
    const result: SseParseResult = { events: [] };
    let start = 0;
    let i = 0;
    if (this.pendingCr && text.startsWith("\n")) {
      // The LF of a CRLF whose CR ended the previous piece.
      start = 1;
      i = 1;
    }
    this.pendingCr = false;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer + text.slice(start, i);
      this.buffer = "";
      if (c === 13) {
        if (i + 1 === text.length) this.pendingCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
      this.line(line, result);
    }
    this.buffer += text.slice(start);
    return result;
  }

  private line(line: string, result: SseParseResult): void {
    if (line === "") {
      this.dispatch(result);
      return;
    }
    if (line.startsWith(":")) return; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) result.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored, as the standard says
    }
  }

  private dispatch(result: SseParseResult): void {
    if (this.hasData) {
      result.events.push({ event: this.eventType || "message", data: this.data.join("\n"), id: this.lastId });
    }
    this.data = [];
    this.hasData = false;
    this.eventType = "";
  }
}

// Bytes in, events out: UTF-8 sequences split between reads are joined before parsing.
export class SseByteParser {
  private readonly decoder = new TextDecoder("utf-8");
  private readonly parser = new SseParser();

  push(bytes: Uint8Array): SseParseResult {
    return this.parser.push(this.decoder.decode(bytes, { stream: true }));
  }
}
