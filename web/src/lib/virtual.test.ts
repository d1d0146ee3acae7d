import { describe, expect, it } from "vitest";
import { computeWindow, pagesFor, scrollToReveal } from "./virtual";

describe("computeWindow", () => {
  it("renders only the rows in view plus the overscan", () => {
    const w = computeWindow({ scrollTop: 3200, viewportHeight: 640, rowHeight: 32, rowCount: 10_000, overscan: 5 });
    expect(w).toEqual({ start: 95, end: 125, padTop: 95 * 32, padBottom: (10_000 - 125) * 32 });
  });

  it("keeps the total height whatever the scroll", () => {
    for (const scrollTop of [0, 17, 1000, 319_999, 10_000_000]) {
      const w = computeWindow({ scrollTop, viewportHeight: 500, rowHeight: 32, rowCount: 10_000 });
      expect(w.padTop + (w.end - w.start) * 32 + w.padBottom).toBe(320_000);
      expect(w.end - w.start).toBeLessThanOrEqual(Math.ceil(500 / 32) + 1 + 16);
      expect(w.end).toBeGreaterThan(w.start);
    }
  });

  it("handles the top, short lists and empty ones", () => {
    expect(computeWindow({ scrollTop: 0, viewportHeight: 100, rowHeight: 20, rowCount: 3 })).toEqual({
      start: 0, end: 3, padTop: 0, padBottom: 0,
    });
    expect(computeWindow({ scrollTop: 50, viewportHeight: 100, rowHeight: 20, rowCount: 0 }).end).toBe(0);
    expect(computeWindow({ scrollTop: -40, viewportHeight: 0, rowHeight: 20, rowCount: 100, overscan: 0 })).toEqual({
      start: 0, end: 1, padTop: 0, padBottom: 99 * 20,
    });
  });
});

describe("pagesFor and scrollToReveal", () => {
  it("lists the pages a window needs", () => {
    expect(pagesFor(95, 125, 100)).toEqual([0, 1]);
    expect(pagesFor(0, 100, 100)).toEqual([0]);
    expect(pagesFor(5, 5, 100)).toEqual([]);
  });

  it("scrolls only as far as needed", () => {
    expect(scrollToReveal(10, 20, 0, 100)).toBe(120);
    expect(scrollToReveal(2, 20, 100, 100)).toBe(40);
    expect(scrollToReveal(6, 20, 100, 100)).toBe(100);
  });
});
