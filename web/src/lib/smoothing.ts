// TensorBoard's scalar smoothing: an exponential moving average debiased like Adam's first moment, so the
// early points are not dragged towards zero. Points that are not finite are passed through as they are and
// left out of the average, so one NaN does not turn the rest of the curve into NaN.

/** The largest weight accepted; 1 would freeze the curve at its first value. */
export const MAX_SMOOTHING = 0.999;

/**
 * Smooths `values` with weight `weight` (0 = unchanged, clamped to 0..MAX_SMOOTHING). Nulls (gaps) stay null
 * and do not advance the average. The input is not modified.
 */
export function smooth(values: ReadonlyArray<number | null>, weight: number): (number | null)[] {
  const w = Number.isFinite(weight) ? Math.min(Math.max(weight, 0), MAX_SMOOTHING) : 0;
  if (w === 0) return values.slice();
  const out: (number | null)[] = new Array<number | null>(values.length);
  let last = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = null;
    } else if (!Number.isFinite(v)) {
      out[i] = v;
    } else {
      last = last * w + (1 - w) * v;
      seen++;
      out[i] = last / (1 - Math.pow(w, seen));
    }
  }
  return out;
}
