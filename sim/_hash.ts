/**
 * Private to `sim/`: Murmur3's 32-bit finaliser, shared by the seeded
 * streams (random.ts) and the loss draws (_loss.ts).
 *
 * @module
 */

/** Murmur3's 32-bit finaliser: spreads every input bit over the output (a signed 32-bit integer). */
export function fmix32(h: number): number {
  let x = h | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x | 0;
}
