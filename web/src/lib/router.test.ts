import { afterEach, describe, expect, it, vi } from "vitest";
import { experimentHref, hrefFor, isPlainClick, matchRoute, navigate, NAVIGATE_EVENT, runHref } from "./router";

describe("matchRoute", () => {
  it("matches every route", () => {
    expect(matchRoute("/")).toEqual({ name: "runs" });
    expect(matchRoute("/nodes")).toEqual({ name: "nodes" });
    expect(matchRoute("/nodes/")).toEqual({ name: "nodes" });
    expect(matchRoute("/runs/brave-owl")).toEqual({ name: "run", run: "brave-owl" });
    expect(matchRoute("/runs/a%20b/experiments/12")).toEqual({ name: "experiment", run: "a b", experiment: 12 });
  });

  it("sends anything else to notFound", () => {
    for (const p of ["/runs", "/runs/x/experiments/one", "/runs/x/experiments", "/runs/%E0%A4%A/", "/foo"]) {
      expect(matchRoute(p).name).toBe("notFound");
    }
  });

  it("round-trips through hrefFor", () => {
    for (const r of [runHref("a/b c"), experimentHref("ü?#", 3), hrefFor({ name: "nodes" }), "/"]) {
      expect(hrefFor(matchRoute(r))).toBe(r);
    }
    expect(matchRoute(runHref("a/b c"))).toEqual({ name: "run", run: "a/b c" });
  });
});

describe("navigate", () => {
  afterEach(() => window.history.replaceState(null, "", "/"));

  it("pushes the path and tells the app", () => {
    const seen = vi.fn();
    window.addEventListener(NAVIGATE_EVENT, seen);
    navigate("/runs/x");
    window.removeEventListener(NAVIGATE_EVENT, seen);
    expect(window.location.pathname).toBe("/runs/x");
    expect(seen).toHaveBeenCalledOnce();
  });

  it("leaves modified clicks to the browser", () => {
    const plain = {
      button: 0, metaKey: false, ctrlKey: false, shiftKey: false, altKey: false, defaultPrevented: false,
    };
    expect(isPlainClick(plain)).toBe(true);
    expect(isPlainClick({ ...plain, ctrlKey: true })).toBe(false);
    expect(isPlainClick({ ...plain, button: 1 })).toBe(false);
  });
});
