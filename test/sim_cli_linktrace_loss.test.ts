/**
 * `--loss` with `--link-trace` on the command line (issue 12, items 3 and 4
 * composed): `sim upload`, `sweep` and `recommend` accept both, through a
 * child process as a user runs it, and the loss reaches the simulator.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "sim", "cli.ts");

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A steady 2 Mbit/s trace: loss and trace together, no outage to wait out. */
const TRACED = ["--link-trace", "steady-2mbit", "--loss", "2%", "--chunks", "64KiB"];

describe.concurrent("loss over a link trace on the command line", () => {
  it("sim upload: one seed, one run, and segments are retransmitted", async () => {
    const args = ["sim", "upload", "--payload", "500kB", "--link-trace", "steady-2mbit"].concat([
      "--loss",
      "2%",
      "--seed",
      "7",
      "--json",
    ]);
    const [a, b] = await Promise.all([run(args), run(args)]);
    expect(a.stderr).toBe("");
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const j = JSON.parse(a.stdout);
    expect(j.params).toMatchObject({ lossRate: 0.02, seed: 7 });
    expect(j.params.linkTrace.name).toBe("steady-2mbit.trace");
    expect(j.result.outcome).toBe("ok");
    expect(j.result.loss.retransmissions).toBeGreaterThan(0);
  });

  it("sweep: the scenario line names the trace and the loss", async () => {
    const r = await run(
      ["sweep", "--payload", "500kB", ...TRACED, "--write-idle", "off", "--total", "60s"].concat([
        "--trials",
        "20",
        "--workers",
        "1",
      ]),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("over link trace steady-2mbit.trace");
    expect(r.stdout).toContain("2.0 % segment loss");
  });

  it("recommend: plans on the lossy, traced path", async () => {
    const r = await run(
      ["recommend", "--payload", "500kB", ...TRACED, "--write-idle", "5s", "--total", "30s"].concat(
        ["--trials", "20", "--workers", "1", "--target", "0.9", "--json"],
      ),
    );
    expect([0, 3]).toContain(r.code);
    const j = JSON.parse(r.stdout);
    expect(j.sweep.scenario.lossRate).toBe(0.02);
    expect(j.sweep.scenario.linkTrace).toBeDefined();
  });
});
