import { ApiError } from "../api/client";

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.field ? `${error.message} (field ${error.field})` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

// An error for people, announced to screen readers.
export function ErrorBox({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return (
    <div className="error" role="alert">
      {errorText(error)}
    </div>
  );
}
