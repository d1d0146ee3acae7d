// Metric values arrive as JSON numbers, or as the strings "NaN", "Infinity" and "-Infinity" for the values JSON
// cannot carry. These helpers turn them into plain numbers, and into short text for people.

export type RawMetricValue = number | string;

/** The number a metric value stands for; anything unrecognised (or null, for an all-NaN min/max) is NaN. */
export function toNumber(v: RawMetricValue | null | undefined): number {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return NaN;
}

/** Compact text for a metric value: up to 4 significant digits, exponent form for very large or small ones. */
export function formatMetric(v: RawMetricValue | null | undefined): string {
  const n = toNumber(v);
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "∞";
  if (n === -Infinity) return "-∞";
  if (n === 0) return "0";
  const abs = Math.abs(n);
  if (Number.isInteger(n) && abs < 1e9) return String(n);
  if (abs >= 1e6 || abs < 1e-3) return n.toExponential(3).replace(/\.?0+e/, "e");
  return String(Number(n.toPrecision(4)));
}
