import { useState, type FormEvent, type KeyboardEvent } from "react";
import { api, type Schemas } from "../api/client";
import { join, split, ShellwordsError } from "../lib/shellwords";
import { ErrorBox } from "./ErrorBox";

interface Props {
  run: Schemas["Run"];
  onDone: (created: Schemas["Run"]) => void;
  onClose: () => void;
}

// Runs the same code again with (possibly) other arguments; a sweep in them expands as with `lattice run`.
export function RerunForm({ run, onDone, onClose }: Props) {
  const [args, setArgs] = useState(() => join(run.args));
  const [name, setName] = useState("");
  const [description, setDescription] = useState(run.description);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    let list: string[];
    try {
      list = split(args);
    } catch (err) {
      setError(err instanceof ShellwordsError ? new Error(`args: ${err.message}`) : err);
      return;
    }
    const body: Schemas["RerunRequest"] = { args: list };
    if (name.trim() !== "") body.name = name.trim();
    if (description !== run.description) body.description = description;
    setBusy(true);
    setError(null);
    api.rerunRun(run.name, body).then(onDone, (err: unknown) => {
      setBusy(false);
      setError(err);
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") onClose();
  };

  return (
    <form className="panel rerun" onSubmit={submit} onKeyDown={onKeyDown} aria-labelledby="rerun-title">
      <h2 id="rerun-title">Rerun {run.name}</h2>
      <p className="hint">
        Same code snapshot, script, resources and environment. Arguments are split as a shell would; a sweep such
        as <code>--lr &apos;[0.1, 0.2]&apos;</code> becomes one experiment per value.
      </p>
      <label htmlFor="rerun-args">Arguments</label>
      <input
        id="rerun-args"
        className="mono"
        value={args}
        onChange={(e) => setArgs(e.target.value)}
        data-testid="rerun-args"
        autoFocus
        spellCheck={false}
      />
      <div className="row2">
        <div>
          <label htmlFor="rerun-name">Name (optional)</label>
          <input id="rerun-name" value={name} placeholder="generated" onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor="rerun-description">Description</label>
          <input id="rerun-description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </div>
      </div>
      <ErrorBox error={error} />
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
        <button type="submit" className="primary" disabled={busy} data-testid="rerun-submit">
          {busy ? "Submitting…" : "Rerun"}
        </button>
      </div>
    </form>
  );
}
