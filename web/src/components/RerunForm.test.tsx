import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { Schemas } from "../api/client";
import { RerunForm } from "./RerunForm";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const run = { name: "r1", description: "d", args: ["--lr", "[0.1, 0.2]", "--epochs", "3"] } as Schemas["Run"];

describe("RerunForm", () => {
  it("prefills the args shell-quoted and sends them split", async () => {
    const calls: { url: string; body: unknown }[] = [];
    vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
      calls.push({ url, body: JSON.parse(String(init.body)) });
      return Promise.resolve(new Response(JSON.stringify({ name: "r2" }), { status: 201 }));
    });
    const onDone = vi.fn();
    render(<RerunForm run={run} onDone={onDone} onClose={() => undefined} />);
    const input = screen.getByTestId("rerun-args") as HTMLInputElement;
    expect(input.value).toBe("--lr '[0.1, 0.2]' --epochs 3");
    fireEvent.change(input, { target: { value: `--lr "[0.5, 0.6]"` } });
    fireEvent.click(screen.getByTestId("rerun-submit"));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith({ name: "r2" }));
    expect(calls).toEqual([{ url: "/api/v1/runs/r1/rerun", body: { args: ["--lr", "[0.5, 0.6]"] } }]);
  });

  it("shows a quoting mistake and the server's message inline", async () => {
    vi.stubGlobal("fetch", () =>
      Promise.resolve(
        new Response(JSON.stringify({ error: { code: "invalid_argument", message: "bad sweep", field: "args" } }), {
          status: 400,
        }),
      ),
    );
    render(<RerunForm run={run} onDone={() => undefined} onClose={() => undefined} />);
    fireEvent.change(screen.getByTestId("rerun-args"), { target: { value: "--lr '[0.1" } });
    fireEvent.click(screen.getByTestId("rerun-submit"));
    expect(screen.getByRole("alert").textContent).toMatch(/unterminated ' quote/);
    fireEvent.change(screen.getByTestId("rerun-args"), { target: { value: "--lr [x" } });
    fireEvent.click(screen.getByTestId("rerun-submit"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("bad sweep (field args)"));
  });
});
