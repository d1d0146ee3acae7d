// Terminal output to styled text. Training scripts colour their logs (loggers, rich, tqdm) with ANSI SGR
// escapes; the log view shows those colours and hides every other escape (cursor moves, window titles...).
// The result is plain data (text + style) that is rendered as React text nodes, never as HTML.

/** A colour: one of the 16 base colours (0-7 normal, 8-15 bright), or an exact rgb. */
export type AnsiColor = { kind: "base"; index: number } | { kind: "rgb"; r: number; g: number; b: number };

/** The graphic rendition in force. Objects are never mutated, so segments can share them. */
export interface AnsiStyle {
  readonly bold: boolean;
  readonly dim: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
  readonly inverse: boolean;
  readonly strike: boolean;
  readonly fg: AnsiColor | null;
  readonly bg: AnsiColor | null;
}

export interface AnsiSegment {
  readonly text: string;
  readonly style: AnsiStyle;
}

export const DEFAULT_STYLE: AnsiStyle = Object.freeze({
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
  strike: false,
  fg: null,
  bg: null,
});

export function isDefaultStyle(s: AnsiStyle): boolean {
  return (
    s === DEFAULT_STYLE ||
    (!s.bold && !s.dim && !s.italic && !s.underline && !s.inverse && !s.strike && s.fg === null && s.bg === null)
  );
}

const ESC = "\x1b";

/** The 256-colour palette's entries 16..255 (the 6x6x6 cube and the grey ramp) as rgb. */
export function color256(n: number): AnsiColor | null {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 16) return { kind: "base", index: n };
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return { kind: "rgb", r: level(Math.floor(i / 36)), g: level(Math.floor(i / 6) % 6), b: level(i % 6) };
  }
  const grey = 8 + (n - 232) * 10;
  return { kind: "rgb", r: grey, g: grey, b: grey };
}

function byte(s: string | undefined): number | null {
  if (s === undefined || s === "") return 0;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : null;
}

/**
 * Reads an extended colour (after 38 or 48) from `params` at `i` (the entry after 38/48). Returns the colour
 * (null when malformed) and how many entries it used.
 */
function extendedColor(params: string[], i: number): { color: AnsiColor | null; used: number } {
  const mode = params[i];
  if (mode === "5") {
    const n = byte(params[i + 1]);
    return { color: n === null ? null : color256(n), used: 2 };
  }
  if (mode === "2") {
    const r = byte(params[i + 1]);
    const g = byte(params[i + 2]);
    const b = byte(params[i + 3]);
    return { color: r === null || g === null || b === null ? null : { kind: "rgb", r, g, b }, used: 4 };
  }
  return { color: null, used: 1 };
}

/** Applies the parameters of one SGR escape (`ESC [ params m`) to `style`. */
export function applySgr(style: AnsiStyle, paramText: string): AnsiStyle {
  const s = { ...style };
  // Colons separate sub-parameters (38:2::r:g:b); the optional colour-space id makes an empty entry there.
  const groups = paramText.split(";");
  const params: string[] = [];
  for (const g of groups) {
    if (g.includes(":")) {
      const sub = g.split(":");
      if ((sub[0] === "38" || sub[0] === "48") && sub[1] === "2" && sub.length >= 6) sub.splice(2, 1);
      params.push(...sub);
    } else {
      params.push(g);
    }
  }
  for (let i = 0; i < params.length; i++) {
    const code = params[i] === "" ? 0 : Number(params[i]);
    if (code === 0) Object.assign(s, DEFAULT_STYLE);
    else if (code === 1) s.bold = true;
    else if (code === 2) s.dim = true;
    else if (code === 3) s.italic = true;
    else if (code === 4) s.underline = true;
    else if (code === 7) s.inverse = true;
    else if (code === 9) s.strike = true;
    else if (code === 22) s.bold = s.dim = false;
    else if (code === 23) s.italic = false;
    else if (code === 24) s.underline = false;
    else if (code === 27) s.inverse = false;
    else if (code === 29) s.strike = false;
    else if (code >= 30 && code <= 37) s.fg = { kind: "base", index: code - 30 };
    else if (code >= 90 && code <= 97) s.fg = { kind: "base", index: code - 90 + 8 };
    else if (code >= 40 && code <= 47) s.bg = { kind: "base", index: code - 40 };
    else if (code >= 100 && code <= 107) s.bg = { kind: "base", index: code - 100 + 8 };
    else if (code === 39) s.fg = null;
    else if (code === 49) s.bg = null;
    else if (code === 38 || code === 48) {
      const { color, used } = extendedColor(params, i + 1);
      if (color !== null) {
        if (code === 38) s.fg = color;
        else s.bg = color;
      }
      i += used;
    }
    // Anything else (blink, hidden, fonts...) has no use in a log view and is ignored.
  }
  return isDefaultStyle(s) ? DEFAULT_STYLE : Object.freeze(s);
}

/**
 * Where the escape sequence starting at `text[i]` (an ESC) ends (exclusive), and its SGR parameters when it
 * is one. `end` is null when the text ends before the sequence does.
 */
function scanEscape(text: string, i: number): { end: number | null; sgr: string | null } {
  const kind = text[i + 1];
  if (kind === undefined) return { end: null, sgr: null };
  if (kind === "[") {
    // CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
    let j = i + 2;
    while (j < text.length) {
      const c = text.charCodeAt(j);
      if (c >= 0x40 && c <= 0x7e) {
        const isSgr = text[j] === "m";
        return { end: j + 1, sgr: isSgr ? text.slice(i + 2, j) : null };
      }
      if (c < 0x20 || c > 0x3f) return { end: j, sgr: null }; // malformed: drop what was read
      j++;
    }
    return { end: null, sgr: null };
  }
  if (kind === "]" || kind === "P" || kind === "X" || kind === "^" || kind === "_") {
    // OSC, DCS, SOS, PM, APC: a string ended by BEL (OSC only, but common) or ST (ESC \).
    for (let j = i + 2; j < text.length; j++) {
      const c = text[j];
      if (c === "\x07") return { end: j + 1, sgr: null };
      if (c === ESC) {
        if (j + 1 >= text.length) return { end: null, sgr: null };
        if (text[j + 1] === "\\") return { end: j + 2, sgr: null };
      }
    }
    return { end: null, sgr: null };
  }
  // Other escapes: optional intermediate bytes 0x20-0x2F then one final byte (e.g. ESC ( B, ESC 7, ESC =).
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c >= 0x20 && c <= 0x2f) {
      j++;
      continue;
    }
    return { end: j + 1, sgr: null };
  }
  return { end: null, sgr: null };
}

/**
 * Remembers the outcome of SGR escapes per starting style, so the same few escapes repeated on every line of a
 * long log are parsed once. One per stream; it forgets everything once it holds `limit` entries.
 */
export class SgrCache {
  private readonly map = new Map<AnsiStyle, Map<string, AnsiStyle>>();
  private size = 0;

  constructor(private readonly limit = 4096) {}

  apply(style: AnsiStyle, params: string): AnsiStyle {
    let byParams = this.map.get(style);
    const hit = byParams?.get(params);
    if (hit !== undefined) return hit;
    const next = applySgr(style, params);
    if (this.size >= this.limit) {
      this.map.clear();
      this.size = 0;
      byParams = undefined;
    }
    if (byParams === undefined) {
      byParams = new Map();
      this.map.set(style, byParams);
    }
    byParams.set(params, next);
    this.size++;
    return next;
  }
}

export interface ParsedLine {
  /** The visible text, styled; adjacent pieces with one style are merged. */
  segments: AnsiSegment[];
  /** The style in force after the line, which the next line of the same stream starts with. */
  endStyle: AnsiStyle;
}

/**
 * Parses one line of output (without its newline) that starts in style `start`. A carriage return starts the
 * line over, as a terminal's progress bar does: only the text after the last one shows, though the styles set
 * before it still carry. A carriage return at the very end (CRLF output) is ignored. Control characters other
 * than tab are dropped, and so is an escape the line ends inside of.
 */
export function parseAnsiLine(line: string, start: AnsiStyle = DEFAULT_STYLE, cache?: SgrCache): ParsedLine {
  let style = start;
  let segments: AnsiSegment[] = [];
  let text = "";
  const flush = () => {
    if (text === "") return;
    const prev = segments[segments.length - 1];
    if (prev !== undefined && prev.style === style) segments[segments.length - 1] = { text: prev.text + text, style };
    else segments.push({ text, style });
    text = "";
  };
  let runStart = 0;
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f) {
      i++;
      continue;
    }
    if (c === 0x09) {
      i++;
      continue;
    }
    text += line.slice(runStart, i);
    if (c === 0x1b) {
      const { end, sgr } = scanEscape(line, i);
      if (end === null) {
        i = n;
        runStart = n;
        break;
      }
      if (sgr !== null) {
        const next = cache === undefined ? applySgr(style, sgr) : cache.apply(style, sgr);
        if (next !== style) {
          flush();
          style = next;
        }
      }
      i = end;
    } else if (c === 0x0d) {
      let k = i;
      while (k < n && line.charCodeAt(k) === 0x0d) k++;
      if (k < n) {
        text = "";
        segments = [];
      }
      i = k;
    } else {
      i++; // another control character: dropped
    }
    runStart = i;
  }
  text += line.slice(runStart, n);
  flush();
  return { segments, endStyle: style };
}

/** An escape sequence that sets `style` from any state (used to stand in for text that was cut away). */
export function styleToSgr(style: AnsiStyle): string {
  const codes = ["0"];
  if (style.bold) codes.push("1");
  if (style.dim) codes.push("2");
  if (style.italic) codes.push("3");
  if (style.underline) codes.push("4");
  if (style.inverse) codes.push("7");
  if (style.strike) codes.push("9");
  const color = (c: AnsiColor | null, base: number, bright: number, ext: number) => {
    if (c === null) return;
    if (c.kind === "base") codes.push(String(c.index < 8 ? base + c.index : bright + c.index - 8));
    else codes.push(`${ext};2;${c.r};${c.g};${c.b}`);
  };
  color(style.fg, 30, 90, 38);
  color(style.bg, 40, 100, 48);
  return `${ESC}[${codes.join(";")}m`;
}

/** What a segment needs to be rendered: CSS classes (base colours, attributes) and inline rgb colours. */
export interface SegmentLook {
  className: string;
  color?: string;
  backgroundColor?: string;
}

function rgb(c: { r: number; g: number; b: number }): string {
  return `rgb(${c.r}, ${c.g}, ${c.b})`;
}

/**
 * The classes and inline colours for a style. Base colours become classes (`ansi-fg-N`, `ansi-bg-N`) whose
 * colours the stylesheet picks per colour scheme with enough contrast; exact colours are inline. Inverse swaps
 * the two. Where that would put a base text colour on a background made for text, the pairs the stylesheet
 * checks are used instead: the view's own colours swapped (`ansi-fg-inv` on `ansi-bg-inv`), or the default text
 * on a base background.
 */
export function segmentLook(style: AnsiStyle): SegmentLook {
  const classes: string[] = [];
  const look: SegmentLook = { className: "" };
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  if (style.strike) classes.push("ansi-strike");
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    [fg, bg] = [bg, fg];
    if (bg === null) {
      classes.push("ansi-bg-inv");
      if (fg === null || fg.kind === "base") {
        classes.push("ansi-fg-inv");
        fg = null;
      }
    } else if (bg.kind === "base" && fg !== null && fg.kind === "base") {
      fg = null;
    }
  }
  if (fg !== null) {
    if (fg.kind === "base") classes.push(`ansi-fg-${fg.index}`);
    else look.color = rgb(fg);
  }
  if (bg !== null) {
    if (bg.kind === "base") classes.push(`ansi-bg-${bg.index}`);
    else look.backgroundColor = rgb(bg);
  }
  look.className = classes.join(" ");
  return look;
}
