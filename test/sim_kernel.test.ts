/**
 * The simulator against the Linux TCP stack (issue 4, "Validation against
 * reality"), a subset small enough for every `npm test` (~30 s): real
 * uploads from Node 24's fetch through `createFetch`, over a path shaped by
 * `tc tbf` with a userspace delay (test/kernel/lab.ts), compared with
 * `simulateUpload` for the same parameters (test/kernel/validate.ts).
 * The full grid is `node bench/sim-kernel.ts` (results in bench/README.md).
 *
 * Needs root, `ip netns`, `tc tbf`, `ss` and /dev/net/tun; skipped with the
 * reason otherwise. Congestion control is pinned to Reno in the client's
 * namespace: its slow start (10 segments, doubling per RTT, no loss) is the
 * model's. The loss subset pins CUBIC on the route instead (the model's
 * default reaction to loss; a namespace may not make it its default here).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, labSupport, median } from "./kernel/lab.ts";
import {
  judgeOutageCell,
  measureOutageCell,
  OUTAGE_CELLS,
  OUTAGE_RATE_BITS_PER_SECOND,
  OUTAGE_RTT_MS,
} from "./kernel/linktrace.ts";
import { measureLossCell, quantile } from "./kernel/loss.ts";
import { type Cell, measureCell, measureStall, type StallCell } from "./kernel/validate.ts";

const support = labSupport();
const why = support.ok ? "" : support.reason;
if (!support.ok) console.warn(`sim_kernel: kernel validation skipped: ${why}`);

const KiB = 1024;
const MiB = 1024 * KiB;
const REPS = 3;

describe.skipIf(!support.ok)(
  `simulator vs the Linux TCP stack${support.ok ? "" : ` (skipped: ${why})`}`,
  () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.open();
      lab.sysctl(lab.client, "net.ipv4.tcp_congestion_control", "reno");
    }, 30_000);
    afterAll(async () => {
      await lab?.close();
    }, 30_000);

    const check = (cell: Cell) => async () => {
      const r = await measureCell(lab, cell, REPS);
      const line = `${cell.payloadBytes / KiB} KiB at ${cell.rateBitsPerSecond / 1e6} Mbit/s, RTT ${cell.rttMs} (${r.rttMeasuredMs.toFixed(1)}) ms: measured ${r.elapsedMs.map((x) => x.toFixed(0)).join("/")} ms, predicted ${r.predictedMs.toFixed(0)} ms (${r.errorPct.toFixed(1)} %), target ${r.target}`;
      // Printed pass or fail: a timing check shows what it measured (npm test runs it as its own step).
      console.log(`sim_kernel: ${line}`);
      expect(r.pass, line).toBe(true);
    };

    describe("RTT 0", () => {
      beforeAll(async () => {
        await lab.setDelay(0);
      }, 30_000);
      it(
        "1 MiB at 10 Mbit/s (short)",
        check({ payloadBytes: MiB, rateBitsPerSecond: 10e6, rttMs: 0, chunkBytes: 16 * KiB }),
        30_000,
      );
    });

    describe("RTT 50 ms (userspace delay, calibrated)", () => {
      beforeAll(async () => {
        lab.shape(10e6);
        await lab.setDelay(50);
      }, 30_000);
      it(
        "256 KiB at 10 Mbit/s (short: slow start)",
        check({
          payloadBytes: 256 * KiB,
          rateBitsPerSecond: 10e6,
          rttMs: 50,
          chunkBytes: 16 * KiB,
        }),
        30_000,
      );
      it(
        "1 MiB at 10 Mbit/s (short)",
        check({ payloadBytes: MiB, rateBitsPerSecond: 10e6, rttMs: 50, chunkBytes: 16 * KiB }),
        30_000,
      );
      it(
        "256 KiB at 2 Mbit/s (bulk)",
        check({ payloadBytes: 256 * KiB, rateBitsPerSecond: 2e6, rttMs: 50, chunkBytes: 16 * KiB }),
        30_000,
      );

      const stall: StallCell = {
        payloadBytes: 4 * MiB,
        rateBitsPerSecond: 2e6,
        rttMs: 50,
        chunkBytes: 16 * KiB,
        wmemBytes: 256 * KiB,
        dropAtMs: 2000,
        writeIdleMs: 1000,
      };
      let gaps: { real: number; sim: number }[] = [];
      it("a path that goes silent at 2 s is caught by writeIdle, in reality and in the simulator", async () => {
        const s = await measureStall(lab, stall, 2);
        gaps = s.runs.map((r) => ({ real: r.gapMs, sim: r.simGapMs }));
        for (const r of s.runs) {
          const line = `drop at ${r.dropMs.toFixed(0)} ms, buffer ${(r.sendBufferBytes / KiB).toFixed(0)} KiB: real ${r.phase} after ${r.detectionMs.toFixed(0)} ms, simulator ${r.simPhase} after ${r.simDetectionMs.toFixed(0)} ms, tolerance ±${s.toleranceMs.toFixed(0)} ms`;
          console.log(`sim_kernel: ${line}`);
          expect(r.phase, line).toBe("writeIdle");
          expect(r.simPhase, line).toBe("writeIdle");
          expect(Math.abs(r.detectionMs - r.simDetectionMs), line).toBeLessThanOrEqual(
            s.toleranceMs,
          );
        }
      }, 30_000);

      // The kernel refills a woken writer past the buffer, to the end of the
      // TSO skb that crosses it; the model takes half an skb. Before it did,
      // simulated gaps were 30–46 % short of these.
      it("pull gaps match the simulator's within 15 %", () => {
        expect(gaps.length).toBeGreaterThan(0);
        for (const g of gaps) {
          const off = Math.abs(g.real - g.sim) / g.sim;
          const line = `pull gap real ${g.real.toFixed(0)} ms, simulator ${g.sim.toFixed(0)} ms: off by ${(off * 100).toFixed(1)} % (limit 15 %)`;
          console.log(`sim_kernel: ${line}`);
          expect(off, line).toBeLessThanOrEqual(0.15);
        }
      });
    });

    // Links that change (issue 12): the delayer holds the client's packets
    // for 3 s from 2 s into a 5 MB upload (a trace's "off") and releases
    // them at the link's rate. A writer waiting on a full send buffer stalls
    // for the outage: `writeIdle: 2s` fires inside it (3.6–4.1 s measured),
    // as modelled, within one pull gap + RTT. ~10 s; the full set of cells
    // is bench/sim-linktrace-kernel.ts (a ride-out takes 24 s, and its
    // margin, ~0.5 s, is too small for a loaded machine).
    describe("an outage held in the delayer, Reno, 2 Mbit/s, RTT 100 ms", () => {
      let rttMs = OUTAGE_RTT_MS;
      beforeAll(async () => {
        lab.shape(OUTAGE_RATE_BITS_PER_SECOND);
        rttMs = median(await lab.setDelay(OUTAGE_RTT_MS));
      }, 30_000);
      it("writeIdle 2 s fires inside a 3 s outage, in reality and in the simulator, in time", async () => {
        const cell = OUTAGE_CELLS.find((c) => c.name === "5 MB, 3 s outage at 2 s, writeIdle 2 s")!;
        const wmem = lab.readSysctl(lab.client, "net.ipv4.tcp_wmem");
        const runs = await measureOutageCell(lab, cell, 2, rttMs, 0, () => {});
        const c = judgeOutageCell({
          cell,
          congestionControl: "reno",
          rttMeasuredMs: rttMs,
          sendBufferBytes: Number(wmem.split(" ")[2]),
          runs,
        });
        for (const j of c.judged) {
          const line = `${cell.name}: real ${j.phase} at ${j.ms.toFixed(0)} ms, simulator ${j.sim} at ${j.simMs.toFixed(0)} ms, tolerance ±${j.toleranceMs.toFixed(0)} ms, RTO fired ${j.timeouts ?? "?"}×`;
          console.log(`sim_kernel: ${line}`);
          expect(j.phase, line).toBe("writeIdle");
          expect(j.sim, line).toBe("writeIdle");
          expect(j.ms, line).toBeGreaterThan(cell.offAtMs);
          expect(j.ms, line).toBeLessThan(cell.offAtMs + cell.offMs);
          expect(j.timeAgrees, line).toBe(true);
        }
      }, 60_000);
    });

    // Loss (issue 12): the delayer drops 1 % of the client's data segments
    // (seeded), CUBIC pinned on the route. Six uploads against the
    // simulator on the same drops (the median error), and against 200
    // simulated ones on its own draws (the p99 bound); the full grid is
    // bench/sim-kernel-loss.ts. At 1 %
    // and 2 Mbit/s the real spread is ~0.3 s in 4.5 s, so the check holds
    // on a loaded machine; at 3 % (0.8 s of spread in 6 s, grid: +0.4 %)
    // six uploads put the median 0–8 % off from run to run, too close to
    // the target for every npm test.
    describe("1 % loss, CUBIC, RTT 50 ms (drops in the delayer)", () => {
      beforeAll(async () => {
        lab.shape(10e6);
        await lab.setDelay(50);
        lab.routeCongestionControl("cubic");
      }, 30_000);
      afterAll(() => {
        lab.routeCongestionControl("reno");
      });
      it("1 MiB at 2 Mbit/s: segments were lost and resent; real median within ±10 % of the simulator's on the same drops, no upload beyond its p99 + 20 %", async () => {
        const r = await measureLossCell(
          lab,
          {
            payloadBytes: MiB,
            rateBitsPerSecond: 2e6,
            rttMs: 50,
            lossRate: 0.01,
            chunkBytes: 16 * KiB,
          },
          6,
        );
        const simP99 = quantile(r.simMs, 0.99);
        // `ss -i`: retrans:<now>/<total> of each upload's connection.
        const resent = r.ss.reduce((a, s) => a + Number(/retrans:\d+\/(\d+)/.exec(s)?.[1] ?? 0), 0);
        const line = `1 % loss, 1 MiB at 2 Mbit/s, RTT ${r.rttMeasuredMs.toFixed(1)} ms, ${r.congestionControl}: real ${r.realMs.map((x) => (x / 1000).toFixed(2)).join("/")} s (median ${(r.real.p50 / 1000).toFixed(2)}, ${resent} segments resent), simulator on the same drops: median ${(r.paired.p50 / 1000).toFixed(2)} s, error ${r.medianErrorPct.toFixed(1)} %; on its own draws p5/p50/p99 ${(r.sim.p5 / 1000).toFixed(2)}/${(r.sim.p50 / 1000).toFixed(2)}/${(simP99 / 1000).toFixed(2)} s`;
        console.log(`sim_kernel: ${line}`);
        expect(r.congestionControl, line).toBe("cubic");
        expect(resent, line).toBeGreaterThan(0);
        expect(Math.abs(r.medianErrorPct), line).toBeLessThanOrEqual(10);
        expect(r.realMs.at(-1)!, line).toBeLessThanOrEqual(simP99 * 1.2);
      }, 90_000);
    });
  },
);
