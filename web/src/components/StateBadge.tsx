import { stateCounts } from "../lib/format";

// A run, experiment, attempt or node state as a coloured label (colour is never the only cue: the word is shown).
export function StateBadge({ state, testId }: { state: string; testId?: string }) {
  return (
    <span className={`badge state-${state}`} data-testid={testId}>
      {state}
    </span>
  );
}

// Small chips with how many experiments are in each state, e.g. "3 running 5 succeeded".
export function StateCounts({ counts }: { counts: Partial<Record<string, number>> }) {
  const list = stateCounts(counts);
  return (
    <span className="chips">
      {list.map(([state, n]) => (
        <span key={state} className={`chip state-${state}`} title={`${n} ${state}`}>
          {n}
          <span className="chip-label"> {state}</span>
        </span>
      ))}
    </span>
  );
}
