/**
 * The kernel lab's drop pattern, shared by the delayer (`delay.ts`, which
 * drops) and the harness (`loss.ts`, which replays the same drops in the
 * simulator). One uniform per TCP segment with payload from the client, in
 * the order the segments pass the delayer, from mulberry32 seeded with the
 * upload's seed; a draw below the loss rate drops the segment.
 *
 * @module
 */

/** mulberry32: small, seeded, plenty for drop decisions. Returns the next uniform in [0, 1). */
export function labDraws(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * The upload's transmissions (0-based, on the wire, retransmissions
 * included) that the delayer drops with `seed` and `rate`, among the first
 * `count`: the simulator's `lostTransmissions` for the same upload.
 *
 * The client (`client.ts`) first sends a warm-up request of one segment on
 * the same connection, with the loss already on: it takes the first draw,
 * and while that is a drop, its retransmission takes the next (nothing else
 * of the client's is on the wire until it is through).
 */
export function labLostTransmissions(seed: number, rate: number, count: number): number[] {
  const draw = labDraws(seed);
  while (draw() < rate) {}
  const lost: number[] = [];
  for (let i = 0; i < count; i++) if (draw() < rate) lost.push(i);
  return lost;
}
