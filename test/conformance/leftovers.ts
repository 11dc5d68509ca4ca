/**
 * The closing case, imported after every case file: nothing the library
 * started may still run once all cases are done.
 *
 * @module
 */
import { armed } from "./helpers.ts";
import { activeResources, assert, sleep, test } from "./runner.ts";

test("no leftovers: no armed timers, no busy server sockets", async (t) => {
  await sleep(50);
  const problems: string[] = [];
  if (armed()) problems.push(`${armed()} library timers still armed`);
  if (t.kind === "node") {
    // Covers the cases on the default clock. The runner's own per-case timer
    // is the one allowed beyond the baseline taken before the first case.
    const count = (xs: string[]) => xs.filter((x) => x === "Timeout").length;
    const allowed = count(t.baselineResources) + 1;
    const now = count(activeResources());
    if (now > allowed) problems.push(`${now} Node timers active, expected at most ${allowed}`);
  }
  // Sockets of finished requests may stay open only as idle keep-alive.
  // Bounded poll: a runtime may close an aborted upload only once the server
  // has drained what was queued.
  let s: { busy: string[]; idle: number; neverUsed: number; blackhole: number } | undefined;
  for (let i = 0; i < 150; i++) {
    const res = await fetch(`${t.env.http}/_sockets?prefix=${t.env.runtime}.`);
    s = (await res.json()) as NonNullable<typeof s>;
    if (s.busy.length === 0 && s.blackhole === 0) break;
    await sleep(100);
  }
  if (s!.busy.length || s!.blackhole) {
    problems.push(`server still busy with this runtime's requests: ${JSON.stringify(s)}`);
  } else {
    t.note(`${s!.idle} idle keep-alive sockets; ${s!.neverUsed} opened and never used`);
  }
  assert(problems.length === 0, problems.join("; "));
});
