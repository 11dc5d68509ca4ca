/**
 * `--link-trace` on the command line, through a child process as a user
 * runs it: a shipped trace by name (from any working directory), a file,
 * the line-numbered error for a bad one, and the trace summarized (not
 * dumped) in --json.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { runCli as run } from "./_cli.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "timebound-trace-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.concurrent("--link-trace", () => {
  it("a shipped trace by name, from another directory: the Wi-Fi outage trips a 2 s writeIdle", async ({
    expect,
  }) => {
    const r = await run(
      [
        "sim",
        "upload",
        "--payload",
        "10MB",
        "--chunk",
        "16KiB",
        "--write-idle",
        "2s",
        "--total",
        "120s",
        "--link-trace",
        "wifi-onoff",
        "--json",
      ],
      dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.params.linkTrace).toEqual({
      name: "wifi-onoff.trace",
      opportunities: expect.any(Number),
      periodMs: 30_000,
    });
    // The trace alone is the uplink: --proxy's default does not shape it.
    expect(out.params.proxyBitsPerSecond).toBe(null);
    expect(out.result.outcome).toBe("timeout");
    expect(out.result.phase).toBe("writeIdle");
  });

  it("--trace shows the outage", async ({ expect }) => {
    const r = await run(
      ["sim", "upload", "--payload", "10MB", "--write-idle", "2s", "--total", "120s"].concat([
        "--link-trace",
        "wifi-onoff",
        "--trace",
      ]),
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/11\.380 s {2}link {6}the link is off \(link trace\)/);
  });

  it("a file, started inside it with --link-trace-start", async ({ expect }) => {
    const file = join(dir, "uplink.trace");
    // 12 Mbit/s for 100 ms, then 900 ms off: a file as Mahimahi reads it.
    const lines = Array.from({ length: 100 }, (_, i) => i + 1).concat([1000]);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const args = ["sim", "upload", "--payload", "100kB", "--link-trace", file, "--json"];
    const at0 = JSON.parse((await run(args, dir)).stdout);
    const inOutage = JSON.parse((await run([...args, "--link-trace-start", "200ms"], dir)).stdout);
    expect(at0.result.outcome).toBe("ok");
    // Starting 200 ms in, 800 ms of outage come first.
    expect(inOutage.result.elapsedMs).toBeGreaterThan(at0.result.elapsedMs + 700);
  });

  it("a bad file: exit 2, the line and what is wrong with it", async ({ expect }) => {
    const file = join(dir, "bad.trace");
    writeFileSync(file, "1\n5\n4\n");
    const r = await run(["sim", "upload", "--link-trace", file], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "Invalid bad.trace line 3: timestamps must never decrease, got 4 after 5",
    );
  });

  it("an unknown name: exit 2, the shipped traces listed", async ({ expect }) => {
    const r = await run(["recommend", "--link-trace", "dialup"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'no file "dialup", and no shipped trace of that name (shipped: residential-uplink, steady-2mbit, wifi-onoff)',
    );
  });

  it("sweep over a shipped trace: the scenario line names it", async ({ expect }) => {
    const r = await run(
      ["sweep", "--link-trace", "steady-2mbit", "--chunks", "64KiB", "--write-idle", "off"].concat([
        "--total",
        "60s",
        "--trials",
        "20",
        "--workers",
        "1",
      ]),
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("over link trace steady-2mbit.trace (2 Mbit/s on average");
  });

  it("--link-trace-off drop: the Wi-Fi outage, dropped, trips the 3 s writeIdle that a held one does not", async ({
    expect,
  }) => {
    const args = [
      "sim",
      "upload",
      "--payload",
      "2.4MB",
      "--chunk",
      "16KiB",
      "--write-idle",
      "3s",
    ].concat(["--link-trace", "wifi-onoff", "--link-trace-start", "9s"]);
    const held = await run(args, dir);
    const dropped = await run(args.concat(["--link-trace-off", "drop"]), dir);
    expect(held.code).toBe(0);
    expect(dropped.code).toBe(0);
    expect(held.stdout).toMatch(/outcome\s+│ ok/);
    expect(dropped.stdout).toContain("(outages drop, cubic sender)");
    expect(dropped.stdout).toMatch(/outcome\s+│ timeout \(writeIdle\)/);
    expect(dropped.stdout).toMatch(/retransmission timeouts\s+│ [1-9]/);
  });

  it("--link-trace-off without --link-trace, or a bad value: exit 2", async ({ expect }) => {
    const lone = await run(["sim", "upload", "--link-trace-off", "drop"], dir);
    expect(lone.code).toBe(2);
    expect(lone.stderr).toContain("--link-trace-off needs --link-trace");
    const bad = await run(
      ["sim", "upload", "--link-trace", "wifi-onoff", "--link-trace-off", "lose"],
      dir,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'lose' is invalid");
  });
});
