/**
 * `--loss`, `--loss-burst`, `--cc` and `--seed` on the command line, through
 * a child process as a user runs it: one seed reproduces one run, the trace
 * names the recovery events, bad values exit 2 naming the flag, and
 * `recommend` plans on a lossy uplink.
 */
import { describe, expect, it } from "vitest";
import { runCli as run } from "./_cli.ts";

const LOSSY = [
  "sim",
  "upload",
  "--payload",
  "1MB",
  "--proxy",
  "2Mbit",
  "--chunk",
  "16KiB",
  "--loss",
  "2%",
];

describe.concurrent("loss on the command line", () => {
  it("one seed, one run: --seed 7 twice gives the same JSON; the loss reaches the simulator", async () => {
    const [a, b, c] = await Promise.all([
      run([...LOSSY, "--seed", "7", "--json"]),
      run([...LOSSY, "--seed", "7", "--json"]),
      run([...LOSSY, "--seed", "8", "--json"]),
    ]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const ja = JSON.parse(a.stdout);
    expect(ja.params).toMatchObject({ lossRate: 0.02, seed: 7, congestionControl: "cubic" });
    expect(ja.result.loss.retransmissions).toBeGreaterThan(0);
    expect(JSON.parse(c.stdout).params.seed).toBe(8);
  });

  it("the trace shows fast retransmits; the table counts retransmissions", async () => {
    const t = await run([...LOSSY, "--seed", "7", "--trace"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain("fast-retransmit");
    expect(t.stdout).toContain("segments sent (retransmitted)");
    expect(t.stdout.replace(/\s+/g, " ")).toContain("2.0 % loss (cubic, seed 7)");
  });

  it("bursty loss and Reno are accepted", async () => {
    const r = await run([...LOSSY, "--loss-burst", "4", "--cc", "reno", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).params).toMatchObject({
      lossBurstSegments: 4,
      congestionControl: "reno",
    });
  });

  it("--cc bbr reaches the simulator: paced, no multiplicative decrease, faster than CUBIC on the same seed here", async () => {
    const at3 = LOSSY.map((a) => (a === "2%" ? "3%" : a));
    const [bbr, cubic, trace] = await Promise.all([
      run([...at3, "--cc", "bbr", "--seed", "5", "--json"]),
      run([...at3, "--cc", "cubic", "--seed", "5", "--json"]),
      run([...at3, "--cc", "bbr", "--seed", "5", "--trace"]),
    ]);
    expect(bbr.code).toBe(0);
    const jb = JSON.parse(bbr.stdout);
    expect(jb.params).toMatchObject({ congestionControl: "bbr", lossRate: 0.03 });
    expect(jb.result.loss.retransmissions).toBeGreaterThan(0);
    expect(jb.result.elapsedMs).toBeLessThan(JSON.parse(cubic.stdout).result.elapsedMs);
    expect(trace.code).toBe(0);
    const flat = trace.stdout.replace(/\s+/g, " ");
    expect(flat).toContain("BBR keeps its rate");
    expect(flat).toContain("3.0 % loss (bbr, seed 5)");
  });

  it("bad values exit 2 with the flag or option named", async () => {
    const [burst, high, cc] = await Promise.all([
      run([...LOSSY, "--loss-burst", "0.5"]),
      run(["sim", "upload", "--loss", "60%"]),
      run([...LOSSY, "--cc", "vegas"]),
    ]);
    expect(burst.code).toBe(2);
    expect(burst.stderr).toContain("--loss-burst");
    expect(high.code).toBe(2);
    expect(high.stderr).toContain(
      "Invalid option 'lossRate': expected a number in [0, 0.5], got 0.6",
    );
    expect(cc.code).toBe(2);
    expect(cc.stderr).toContain("--cc");
  });

  it("recommend takes --loss and plans on the lossy path", async () => {
    const r = await run([
      "recommend",
      "--payload",
      "500kB",
      "--proxy",
      "2Mbit",
      "--loss",
      "1%",
      "--chunks",
      "64KiB",
      "--write-idle",
      "5s",
      "--total",
      "30s",
      "--trials",
      "50",
      "--workers",
      "1",
      "--target",
      "0.9",
      "--json",
    ]);
    expect([0, 3]).toContain(r.code);
    const j = JSON.parse(r.stdout);
    expect(j.sweep.scenario.lossRate).toBe(0.01);
  });

  it("recommend --cc bbr plans for a BBR sender: its uploads on the same lossy paths are faster", async () => {
    const plan = async (cc: string) => {
      const r = await run([
        "recommend",
        "--payload",
        "1MB",
        "--proxy",
        "10Mbit",
        "--proxy-spread",
        "0",
        "--rtt",
        "150ms",
        "--loss",
        "3%",
        "--cc",
        cc,
        "--chunks",
        "64KiB",
        "--write-idle",
        "off",
        "--total",
        "60s",
        "--trials",
        "40",
        "--workers",
        "1",
        "--target",
        "0.9",
        "--json",
      ]);
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout);
    };
    const [cubic, bbr] = [await plan("cubic"), await plan("bbr")];
    expect(cubic.sweep.scenario.congestionControl).toBe("cubic");
    expect(bbr.sweep.scenario.congestionControl).toBe("bbr");
    // The lab measured BBR 5–11 × faster than CUBIC at 3 % loss on a 10 Mbit/s path.
    expect(bbr.cell.p50Ms).toBeLessThan(cubic.cell.p50Ms / 2);
    // Without anything to lose, --cc would do nothing: refused.
    const alone = await run(["recommend", "--cc", "bbr"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("option '--cc' needs --loss or --link-trace-off drop");
  });
});
