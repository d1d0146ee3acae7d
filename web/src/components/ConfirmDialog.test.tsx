import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { ConfirmDialog } from "./ConfirmDialog";

afterEach(cleanup);

describe("ConfirmDialog", () => {
  it("starts on Cancel, confirms with its button and cancels with Escape", () => {
    const onConfirm = vi.fn();
    const onCancel = vi.fn();
    render(<ConfirmDialog title="Cancel r?" confirmLabel="Cancel run" onConfirm={onConfirm} onCancel={onCancel} />);
    expect(document.activeElement?.textContent).toBe("Cancel");
    fireEvent.click(screen.getByTestId("confirm-yes"));
    expect(onConfirm).toHaveBeenCalledOnce();
    fireEvent.keyDown(screen.getByRole("alertdialog"), { key: "Escape" });
    expect(onCancel).toHaveBeenCalledOnce();
  });
});
