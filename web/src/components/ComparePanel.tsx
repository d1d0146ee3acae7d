import { MetricPanel } from "./MetricPanel";

interface Props {
  run: string;
  keys: string[];
  metricKey: string | null;
  onKey: (key: string) => void;
  experiments: number[];
  labels: Record<number, string>;
  live: boolean;
}

// One chart of the chosen metric for the selected experiments, overlaid.
export function ComparePanel({ run, keys, metricKey, onKey, experiments, labels, live }: Props) {
  return (
    <section className="panel compare" aria-labelledby="compare-title">
      <div className="toolbar">
        <h2 id="compare-title">Compare</h2>
        <label htmlFor="compare-key">Metric</label>
        <select
          id="compare-key"
          data-testid="compare-key"
          value={metricKey ?? ""}
          onChange={(e) => onKey(e.target.value)}
          disabled={keys.length === 0}
        >
          {keys.length === 0 && <option value="">no metrics yet</option>}
          {keys.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <span className="hint">
          {experiments.length === 0
            ? "Select experiments in the table to compare them."
            : `${experiments.length} experiment${experiments.length === 1 ? "" : "s"}`}
        </span>
      </div>
      {metricKey !== null && experiments.length > 0 && (
        <MetricPanel run={run} metricKey={metricKey} experiments={experiments} labels={labels} live={live} />
      )}
    </section>
  );
}
