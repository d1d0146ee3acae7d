import { describe, expect, it } from "vitest";
import { join, quote, split, ShellwordsError } from "./shellwords";

describe("split", () => {
  it("splits on blanks and honours quotes and backslashes", () => {
    expect(split("  --epochs 3   --lr '[0.1, 0.2]'")).toEqual(["--epochs", "3", "--lr", "[0.1, 0.2]"]);
    expect(split(`--name "a \\"b\\" \\\\ c" x\\ y it's'`.replace("it's'", "'it'\\''s'"))).toEqual([
      "--name",
      'a "b" \\ c',
      "x y",
      "it's",
    ]);
    expect(split(`a"b"'c'd`)).toEqual(["abcd"]);
    expect(split(`'' ""`)).toEqual(["", ""]);
    expect(split("")).toEqual([]);
    expect(split(`"$HOME \\n"`)).toEqual(["$HOME \\n"]);
  });

  it("says what is wrong with a bad line", () => {
    expect(() => split("--lr '[0.1")).toThrow(ShellwordsError);
    expect(() => split("--lr '[0.1")).toThrow(/unterminated ' quote starting at character 6/);
    expect(() => split('"abc')).toThrow(/unterminated "/);
    expect(() => split("abc\\")).toThrow(/trailing/);
  });
});

describe("join", () => {
  it("quotes only what needs it", () => {
    expect(quote("--lr")).toBe("--lr");
    expect(quote("0.01")).toBe("0.01");
    expect(quote("[0.1, 0.2]")).toBe("'[0.1, 0.2]'");
    expect(quote("")).toBe("''");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(join(["--lr", "[1e-3,1e-2]"])).toBe("--lr '[1e-3,1e-2]'");
  });

  it("round-trips any arguments", () => {
    const cases = [["a b", "c'd", 'e"f', "g\\h", "", "$x", "\t\n", "ünï", "[1, 2]", "--x=y z"]];
    for (const args of cases) expect(split(join(args))).toEqual(args);
  });
});
