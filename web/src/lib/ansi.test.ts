import { describe, expect, it } from "vitest";
import {
  applySgr,
  color256,
  DEFAULT_STYLE,
  parseAnsiLine,
  segmentLook,
  styleToSgr,
  type AnsiSegment,
  type AnsiStyle,
} from "./ansi";

const E = "\x1b";
const texts = (segs: AnsiSegment[]) => segs.map((s) => s.text);
const plain = (line: string, start?: AnsiStyle) => texts(parseAnsiLine(line, start).segments).join("");

describe("parseAnsiLine", () => {
  it("returns plain text as one default segment", () => {
    const { segments, endStyle } = parseAnsiLine("hello\tworld");
    expect(segments).toEqual([{ text: "hello\tworld", style: DEFAULT_STYLE }]);
    expect(endStyle).toBe(DEFAULT_STYLE);
  });

  it("styles base colours and attributes and resets", () => {
    const { segments, endStyle } = parseAnsiLine(`a${E}[1;31mb${E}[0mc${E}[92;44md`);
    expect(texts(segments)).toEqual(["a", "b", "c", "d"]);
    expect(segments[1]!.style).toMatchObject({ bold: true, fg: { kind: "base", index: 1 } });
    expect(segments[2]!.style).toBe(DEFAULT_STYLE);
    expect(segments[3]!.style).toMatchObject({ fg: { kind: "base", index: 10 }, bg: { kind: "base", index: 4 } });
    expect(endStyle).toBe(segments[3]!.style);
  });

  it("reads 256-colour and truecolour escapes", () => {
    const { segments } = parseAnsiLine(`${E}[38;5;196mx${E}[48;2;1;2;3my${E}[38;5;3mz${E}[38:2::9:8:7mw`);
    expect(segments[0]!.style.fg).toEqual({ kind: "rgb", r: 255, g: 0, b: 0 });
    expect(segments[1]!.style.bg).toEqual({ kind: "rgb", r: 1, g: 2, b: 3 });
    expect(segments[2]!.style.fg).toEqual({ kind: "base", index: 3 });
    expect(segments[3]!.style.fg).toEqual({ kind: "rgb", r: 9, g: 8, b: 7 });
  });

  it("restores default colours with 39 and 49 and attributes with 22-29", () => {
    let s = applySgr(DEFAULT_STYLE, "1;2;3;4;7;9;31;41");
    s = applySgr(s, "39;49;22;23;24;27;29");
    expect(s).toBe(DEFAULT_STYLE);
  });

  it("treats an empty parameter list as reset", () => {
    const red = applySgr(DEFAULT_STYLE, "31");
    expect(applySgr(red, "")).toBe(DEFAULT_STYLE);
  });

  it("strips cursor moves, OSC titles and other escapes", () => {
    expect(plain(`${E}[2K${E}[1Aa${E}]0;title\x07b${E}]8;;http://x${E}\\c${E}(Bd${E}7e\x07\bf`)).toBe("abcdef");
  });

  it("keeps only the text after the last carriage return, like a terminal", () => {
    expect(plain(" 10%|#   |\r 50%|##  |\r100%|####|")).toBe("100%|####|");
    expect(plain("done\r")).toBe("done"); // CRLF output
    expect(plain("a\r\rb")).toBe("b");
  });

  it("carries colours set before a carriage return", () => {
    const { segments } = parseAnsiLine(`${E}[32mold\rnew`);
    expect(segments).toHaveLength(1);
    expect(segments[0]).toMatchObject({ text: "new", style: { fg: { kind: "base", index: 2 } } });
  });

  it("carries the style across lines", () => {
    const first = parseAnsiLine(`${E}[35mstart`);
    const second = parseAnsiLine("more", first.endStyle);
    expect(second.segments[0]!.style.fg).toEqual({ kind: "base", index: 5 });
  });

  it("drops an escape the text ends inside of", () => {
    expect(plain(`abc${E}[3`)).toBe("abc");
    expect(plain(`abc${E}`)).toBe("abc");
    expect(plain(`abc${E}]0;tit`)).toBe("abc");
  });

  it("ignores malformed colour escapes without losing text", () => {
    const { segments } = parseAnsiLine(`${E}[38;5;999mx${E}[38;2;1mz`);
    expect(texts(segments).join("")).toBe("xz");
    expect(segments[0]!.style.fg).toBeNull();
  });

  it("never interprets text as markup", () => {
    expect(plain("<b>&amp;</b>")).toBe("<b>&amp;</b>");
  });
});

describe("a sequence split over chunks", () => {
  it("gives the same result once the line is whole", () => {
    const whole = `x${E}[1;38;5;82my${E}[0mz`;
    for (let cut = 0; cut <= whole.length; cut++) {
      const partial = parseAnsiLine(whole.slice(0, cut));
      for (const s of partial.segments) expect(s.text).not.toContain(E);
      expect(parseAnsiLine(whole)).toEqual(parseAnsiLine(whole.slice(0, cut) + whole.slice(cut)));
    }
  });
});

describe("color256", () => {
  it("maps the cube and the grey ramp", () => {
    expect(color256(1)).toEqual({ kind: "base", index: 1 });
    expect(color256(16)).toEqual({ kind: "rgb", r: 0, g: 0, b: 0 });
    expect(color256(231)).toEqual({ kind: "rgb", r: 255, g: 255, b: 255 });
    expect(color256(67)).toEqual({ kind: "rgb", r: 95, g: 135, b: 175 });
    expect(color256(232)).toEqual({ kind: "rgb", r: 8, g: 8, b: 8 });
    expect(color256(255)).toEqual({ kind: "rgb", r: 238, g: 238, b: 238 });
    expect(color256(256)).toBeNull();
  });
});

describe("styleToSgr", () => {
  it("recreates the style from any state", () => {
    const styles = [
      applySgr(DEFAULT_STYLE, "1;3;91;42"),
      applySgr(DEFAULT_STYLE, "2;4;7;9;38;2;1;2;3;48;5;200"),
      DEFAULT_STYLE,
    ];
    const from = applySgr(DEFAULT_STYLE, "5;33;45;1");
    for (const s of styles) {
      const parsed = parseAnsiLine(styleToSgr(s) + "x", from).segments[0]!.style;
      expect(parsed).toEqual(s);
    }
  });
});

describe("segmentLook", () => {
  it("uses classes for base colours and inline rgb for exact ones", () => {
    expect(segmentLook(applySgr(DEFAULT_STYLE, "1;31;102"))).toEqual({
      className: "ansi-bold ansi-fg-1 ansi-bg-10",
    });
    expect(segmentLook(applySgr(DEFAULT_STYLE, "38;2;10;20;30"))).toEqual({ className: "", color: "rgb(10, 20, 30)" });
  });

  it("swaps colours for inverse, using the view's own colours for defaults", () => {
    expect(segmentLook(applySgr(DEFAULT_STYLE, "7"))).toEqual({ className: "ansi-bg-inv ansi-fg-inv" });
    expect(segmentLook(applySgr(DEFAULT_STYLE, "7;34"))).toEqual({ className: "ansi-bg-4" });
    expect(segmentLook(applySgr(DEFAULT_STYLE, "7;41"))).toEqual({ className: "ansi-bg-inv ansi-fg-inv" });
    expect(segmentLook(applySgr(DEFAULT_STYLE, "7;32;45"))).toEqual({ className: "ansi-bg-2" });
    expect(segmentLook(applySgr(DEFAULT_STYLE, "7;38;2;1;2;3"))).toEqual({
      className: "",
      backgroundColor: "rgb(1, 2, 3)",
    });
  });
});
