/**
 * "A larger proxy buffer never makes a stall visible sooner" (issue 12),
 * checked the way the property that was removed checked it: its generators
 * (those of test/sim_upload_props.test.ts then), N random streaming paths,
 * each with a proxy buffer and a larger one, limits writeIdle 3 s, or 1 s
 * with total 60 s, or total 30 s. Every pair where both time out and the
 * larger fires sooner is printed as a JSON line (its path included) and
 * classified:
 * - the stall on the path: none, drop (silent proxy), updrop (black hole
 *   upstream), tarpit (any read rate), or a mix;
 * - per run, S: the stall made the limit fire (the same path without it
 *   fires later or not at all), H: the path's own pull gaps did (its
 *   healthy twin fires at the same moment);
 * - OLD-VIOL: sooner by more than the longer longest pull gap of the two
 *   traces + 1 ms (the removed bound);
 * - for SS pairs, whether the bound of the property now in the test holds:
 *   sooner ≤ the larger buffer's pull gap that the stall cut short (on its
 *   healthy twin) + behind a tarpit the smaller's last pull gap.
 *
 *   node_modules/.bin/node bench/sim-proxy-buffer-pairs.ts 20000 1 > pairs.jsonl
 *
 * (N, seed; the summary goes to stderr.) 20,000 paths take ~3 s.
 *
 * @module
 */
import fc from "fast-check";
import { simulateUpload, type UploadParams } from "../sim/mod.ts";
import { MAX_PROXY_BUFFER, MIN_PROXY_BUFFER, uploadPathArb } from "../test/_upload_arb.ts";

/** The removed property's paths: no `proxySendBufferBytes` (it came later). */
const pathArb = uploadPathArb({ proxySendBuffer: false });
const upArb = fc.double({ min: 1, max: 20, noNaN: true });
const caseArb = fc.tuple(
  pathArb.filter((p) => p.proxyMode !== "store-and-forward"),
  fc.integer({ min: MIN_PROXY_BUFFER, max: MAX_PROXY_BUFFER }),
  upArb,
  fc.constantFrom<UploadParams["timeouts"]>(
    { writeIdle: 3000, total: false },
    { writeIdle: 1000, total: 60_000 },
    { total: 30_000 },
  ),
);

type R = ReturnType<typeof simulateUpload>;
function pulls(r: R): number[] {
  return r
    .trace!.filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
    .map((e) => e.atMs);
}
function maxGap(t: number[]): number {
  let g = 0;
  for (let i = 1; i < t.length; i++) g = Math.max(g, t[i]! - t[i - 1]!);
  return g;
}
function stallOf(p: UploadParams): string {
  const k: string[] = [];
  if (p.dropAtMs !== undefined) k.push("drop");
  if (p.upstreamDropAtMs !== undefined) k.push("updrop");
  if (p.serverReadBytesPerSecond !== undefined) k.push("tarpit");
  return k.length ? k.join("+") : "none";
}

const N = Number(process.argv[2] ?? 20000);
const seed = Number(process.argv[3] ?? 1);
const cases = fc.sample(caseArb, { numRuns: N, seed });
let both = 0;
const counts: Record<string, number> = {};
for (const [path, buffer, up, timeouts] of cases) {
  const bufs = [buffer, Math.round(buffer * up)];
  const [s, l] = bufs.map((proxyBufferBytes) =>
    simulateUpload({ ...path, proxyBufferBytes, timeouts, trace: true }),
  ) as [R, R];
  if (s.outcome !== "timeout" || l.outcome !== "timeout") continue;
  both++;
  const sooner = s.elapsedMs - l.elapsedMs;
  if (!(sooner > 1e-9)) continue;
  const ps = pulls(s),
    pl = pulls(l);
  const gap = Math.max(maxGap(ps), maxGap(pl));
  const healthy = { ...path, timeouts } as UploadParams;
  delete healthy.dropAtMs;
  delete healthy.upstreamDropAtMs;
  delete healthy.serverReadBytesPerSecond;
  delete healthy.tarpitAtMs;
  const [hs, hl] = bufs.map((proxyBufferBytes) =>
    simulateUpload({ ...healthy, proxyBufferBytes }),
  ) as [R, R];
  const caused = (r: R, h: R) =>
    h.outcome !== "timeout" || h.elapsedMs > r.elapsedMs + 1e-9 ? "S" : "H";
  const cls = caused(s, hs) + caused(l, hl);
  let bound: number | undefined;
  if (cls === "SS") {
    const lp = ps.at(-1)!;
    const free = simulateUpload({
      ...healthy,
      proxyBufferBytes: bufs[1],
      timeouts: { total: false },
      trace: true,
    });
    const next = pulls(free).find((t) => t > lp * (1 + 1e-9) + 1e-9) ?? Number.POSITIVE_INFINITY;
    bound =
      next -
      lp +
      (path.serverReadBytesPerSecond !== undefined && ps.length > 1 ? ps.at(-1)! - ps.at(-2)! : 0);
  }
  const newViol = bound !== undefined && sooner > bound * (1 + 1e-6);
  const oldViol = sooner > gap + 1 + 1e-3;
  const key = `${stallOf(path)} ${cls}${oldViol ? " OLD-VIOL" : ""}${newViol ? " NEW-VIOL" : ""}`;
  counts[key] = (counts[key] ?? 0) + 1;
  console.log(
    JSON.stringify({
      stall: stallOf(path),
      cls,
      oldViol,
      newViol,
      bound,
      phases: [s.phase, l.phase],
      elapsed: [s.elapsedMs, l.elapsedMs],
      sooner,
      gap,
      beyond: sooner - gap,
      pulls: [ps.length, pl.length],
      lastPull: [ps.at(-1), pl.at(-1)],
      uploadEnd: [s.uploadEndMs, l.uploadEndMs],
      sent: [s.bytesSent, l.bytesSent],
      bufs,
      path: { ...path, timeouts },
    }),
  );
}
console.error(JSON.stringify({ N, seed, both, counts }));
