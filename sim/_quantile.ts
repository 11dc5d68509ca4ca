/**
 * Private to `sim/`: quantiles from a DDSketch (`@datadog/sketches-js`) by
 * nearest rank, the ⌈q·n⌉-th smallest value, within the sketch's relative
 * accuracy. DDSketch's own `getValueAtQuantile(q)` takes rank q·(n − 1),
 * which with few values lands below observed ones (the p99 of 5 values is
 * the 4th): a timeout or a reported p99 taken from it would be below what
 * was seen. Nearest rank never is.
 *
 * @module
 */
import type { QuantileSketch } from "./observer.ts";

/** The nearest-rank `q` quantile of what `sketch` holds; NaN when it is empty. */
export function nearestRank(sketch: QuantileSketch, q: number): number {
  const n = sketch.count;
  if (n === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * n));
  return sketch.getValueAtQuantile(n > 1 ? (rank - 1) / (n - 1) : 1);
}
