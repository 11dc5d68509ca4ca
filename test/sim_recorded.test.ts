/**
 * The simulator against reality, without root: real measurements recorded
 * by the labs (`bench/recorded/proxy-*.jsonl` from `bench/sim-proxy.ts
 * --json`, `bench/sim-kernel-loss.recorded.json` from
 * `bench/sim-kernel-loss.ts --json`) judged again against the model as it
 * is now. A model change that loses agreement with what real proxies and
 * real TCP did fails here, on any machine, before anyone re-runs a lab.
 *
 * The thresholds are the issue's targets and the agreement the recorded
 * runs reached when they were committed (sim/README.md has the tables).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { judgeOutageCell, type OutageCellRecord } from "./kernel/linktrace.ts";
import { compareLossCell, type LossCellResult } from "./kernel/loss.ts";
import { judge, type ProxyCaseResult } from "./kernel/validate-proxy.ts";

const root = new URL("../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), "utf8");

describe("the proxy lab's recorded runs, against today's model", () => {
  // 4 proxies × 4 scenarios × 2 payloads per run; target: ≥ 30 of 32 in the
  // predicted phase. In time (one pull gap + RTT): what each run reached.
  const runs = [
    { file: "bench/recorded/proxy-2mbit-bbr.jsonl", minInTime: 27 },
    { file: "bench/recorded/proxy-5mbit-reno.jsonl", minInTime: 29 },
    { file: "bench/recorded/proxy-2mbit-reno.jsonl", minInTime: 31 },
  ];
  for (const { file, minInTime } of runs) {
    it(`${file}: ≥ 30 of 32 cases in phase, ≥ ${minInTime} in time`, () => {
      const cases = read(file)
        .split("\n")
        .filter(Boolean)
        .map((line) => judge(JSON.parse(line) as ProxyCaseResult));
      expect(cases).toHaveLength(32);
      const inPhase = cases.filter((c) => c.phaseAgrees).length;
      const inTime = cases.filter((c) => c.timeAgrees).length;
      console.log(`${file}: ${inPhase}/32 in phase, ${inTime}/32 in time`);
      expect(inPhase).toBeGreaterThanOrEqual(30);
      expect(inTime).toBeGreaterThanOrEqual(minInTime);
    });
  }
});

describe("the kernel loss grid's recorded uploads, against today's model", () => {
  it("11 of 12 cells within target (median ±10 %, p95 ±20 %); the known miss is the only one", () => {
    const recorded = JSON.parse(read("bench/sim-kernel-loss.recorded.json")) as LossCellResult[];
    const rows = recorded.map((r) =>
      compareLossCell(r.cell, r.rttMeasuredMs, r.realMs, 200, r.congestionControl),
    );
    const misses = rows.filter((r) => !r.pass).map((r) => r.cell);
    console.log(
      rows
        .map(
          (r) =>
            `${r.cell.lossRate * 100} % ${r.cell.rateBitsPerSecond / 1e6} Mbit/s RTT ${r.cell.rttMs}: median ${r.medianErrorPct.toFixed(1)} %, p95 ${r.p95ErrorPct.toFixed(1)} %`,
        )
        .join("\n"),
    );
    expect(rows).toHaveLength(12);
    // sim/README.md: 1 % at 10 Mbit/s, RTT 150 ms, the model's CUBIC too
    // fast at the median. Fixing it must not break another cell.
    expect(misses.length).toBeLessThanOrEqual(1);
    for (const m of misses) {
      expect(m).toMatchObject({ lossRate: 0.01, rateBitsPerSecond: 10e6, rttMs: 150 });
    }
  });
});

describe("the kernel lab's on/off link (outage in the delayer), against today's model", () => {
  // sim/README.md, "Links that change": every upload in the predicted
  // phase; a timeout within one pull gap + RTT of the model's; an ok cell's
  // median duration within ±10 %. Held outages (a trace's off, 4 cells × 5
  // uploads: median errors 0.0, −0.1, −5.0, −0.1 %) and dropped ones
  // (`linkTraceOff: "drop"`, 3 cells × 5: +0.2, −9.8, −6.0 %) all passed
  // when recorded.
  const recorded = JSON.parse(
    read("bench/recorded/linktrace-outage-hold.json"),
  ) as OutageCellRecord[];
  const dropped = JSON.parse(
    read("bench/recorded/linktrace-outage-drop.json"),
  ) as OutageCellRecord[];
  // The known miss (sim/README.md): a 2.4 MB body whose writer Linux keeps
  // waiting through a held outage (its send buffer grows with a cwnd that
  // stops growing once TCP small queues, not cwnd, holds the sender back),
  // where the fluid model's buffer has taken the whole body before it.
  const KNOWN_MISS = "2.4 MB, 2.5 s outage at 3 s, writeIdle 2 s";
  for (const rec of [...recorded, ...dropped]) {
    const known = rec.cell.name === KNOWN_MISS && (rec.mode ?? "hold") === "hold";
    it(`${rec.cell.name}, ${rec.mode ?? "hold"}: ${rec.runs.length} uploads ${known ? "(the known miss: reality writeIdle, the model ok)" : "in the predicted phase and time"}`, () => {
      const c = judgeOutageCell(rec);
      const line = `${rec.cell.name}: real ${c.judged.map((j) => `${j.phase} ${(j.ms / 1000).toFixed(2)}`).join(", ")} s; model ${c.judged[0]!.sim} ${(c.judged[0]!.simMs / 1000).toFixed(2)} s; median error ${c.medianErrorPct.toFixed(1)} %`;
      console.log(line);
      expect(c.runs.length, line).toBeGreaterThanOrEqual(5);
      if (known) {
        // Reality is unanimous; when the model learns it, this cell passes
        // and KNOWN_MISS goes.
        expect(
          c.runs.every((r) => r.phase === "writeIdle"),
          line,
        ).toBe(true);
        if (c.pass) console.log(`${KNOWN_MISS}: passes now, remove it from the known misses`);
        return;
      }
      for (const j of c.judged) {
        expect(j.phaseAgrees, line).toBe(true);
        expect(j.timeAgrees, `${line} (tolerance ${j.toleranceMs.toFixed(0)} ms)`).toBe(true);
      }
      expect(c.pass, line).toBe(true);
    });
  }
  it("the real outages made the retransmission timer fire and Linux undo it (so the link's return, not a backed-off timer, restarted the uploads)", () => {
    const outageRuns = recorded.filter((r) => r.cell.offMs > 0).flatMap((r) => r.runs);
    expect(outageRuns.length).toBeGreaterThan(0);
    for (const r of outageRuns) expect(r.timeouts).toBeGreaterThanOrEqual(1);
    const ridden = outageRuns.filter((r) => r.phase === "ok");
    expect(ridden.length).toBeGreaterThan(0);
    for (const r of ridden) {
      expect(r.lossUndos).toBeGreaterThanOrEqual(1);
      // Resumed within a few RTTs of the link's return (the model: as soon
      // as its queue drains; the old tbf switch: 0.6–2.1 s).
      expect(r.resumeMs).toBeLessThan(500);
    }
  });
  it("dropped outages: nothing undone, and the uploads resumed later than after held ones (the timer's backoff)", () => {
    const runs = dropped.filter((r) => r.cell.offMs > 0).flatMap((r) => r.runs);
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) {
      expect(r.timeouts).toBeGreaterThanOrEqual(1);
      expect(r.lossUndos).toBe(0);
    }
    const resumes = runs.flatMap((r) => (r.resumeMs === undefined ? [] : [r.resumeMs]));
    expect(resumes.length).toBeGreaterThan(0);
    expect(Math.min(...resumes)).toBeGreaterThan(500);
  });
});
