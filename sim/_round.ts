/**
 * Private to `sim/`: how planners round a proposed limit.
 *
 * @module
 */

/** Rounds up to two significant digits: 824 → 830, 1234 → 1300, 0.42 → 0.42. */
export function roundUp2(ms: number): number {
  if (ms <= 0) return 1;
  const p = 10 ** (Math.floor(Math.log10(ms)) - 1);
  // toPrecision: 76 × 0.1 is 7.6000000000000005 in binary.
  return Number((Math.ceil(Number((ms / p).toFixed(9))) * p).toPrecision(3));
}
