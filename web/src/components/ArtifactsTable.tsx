import { useState } from "react";
import { api, type Schemas } from "../api/client";
import { formatBytes, formatTimestamp } from "../lib/format";
import { ErrorBox } from "./ErrorBox";

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1) || path;
}

// The files an experiment's attempts saved; each downloads with the token (a plain link could not send it).
export function ArtifactsTable({ artifacts }: { artifacts: Schemas["Artifact"][] }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const download = (a: Schemas["Artifact"]) => {
    const id = `${a.group}/${a.path}`;
    setBusy(id);
    setError(null);
    api.downloadBlob(a.sha256, baseName(a.path)).then(
      () => setBusy(null),
      (e: unknown) => {
        setBusy(null);
        setError(e);
      },
    );
  };
  if (artifacts.length === 0) return <p className="hint">No artifacts or checkpoints saved.</p>;
  return (
    <>
      <ErrorBox error={error} />
      <div className="scroll-x" tabIndex={0} role="region" aria-label="Artifacts">
        <table data-testid="artifacts-table" className="grid">
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">Kind</th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col" className="num">
                Attempt
              </th>
              <th scope="col" className="num">
                Group
              </th>
              <th scope="col">Saved</th>
              <th scope="col">
                <span className="visually-hidden">Download</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {artifacts.map((a) => (
              <tr key={`${a.group}/${a.path}`} data-testid="artifact-row">
                <td className="mono wrap">{a.path}</td>
                <td>{a.kind}</td>
                <td className="num">{formatBytes(a.size)}</td>
                <td className="num">{a.attempt}</td>
                <td className="num">{a.group}</td>
                <td>{formatTimestamp(a.created_at)}</td>
                <td>
                  <button
                    type="button"
                    data-testid="artifact-download"
                    onClick={() => download(a)}
                    disabled={busy === `${a.group}/${a.path}`}
                    aria-label={`Download ${a.path}`}
                  >
                    Download
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
