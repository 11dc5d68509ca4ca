/**
 * `recommend --from` (issue 13, item 4): the upload planner driven by
 * observed upload rates, with a stated false-timeout rate and margin; call
 * limits read from the sketches at the same rate; the example that makes
 * the committed sketches file; the CLI.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { observeSeed } from "../examples/observe.ts";
import {
  type Distribution,
  fromSketches,
  Observer,
  RESIDENTIAL_UPLOAD,
  recommendObserved,
  sample,
  seededRandom,
  sweep,
} from "../sim/mod.ts";
import { createFetch } from "../src/mod.ts";

const UP = "https://up.example";

/** An Observer holding `n` draws of `rate` as upload rates, and calls of a few hundred ms. */
function observed(rate: Distribution, n: number, headersMs = 100): Observer {
  const obs = new Observer();
  const r = seededRandom(99);
  for (let i = 0; i < n; i++) {
    obs.record(`${UP}/files`, "total", 200 + 100 * r());
    obs.record(`${UP}/files`, "headers", headersMs + 50 * r());
    obs.record(`${UP}/files`, "uploadRate", sample(rate, r));
  }
  return obs;
}

const GRID = {
  chunkBytes: [65_536],
  writeIdle: ["2s", "5s"] as const,
  total: ["10s", "20s", "30s", "60s"] as const,
  trials: 2000,
  workers: 1,
};

describe("recommendObserved", () => {
  it("is the same planner: a sketch of the assumed rates gives the assumed success rates", async () => {
    const rate = RESIDENTIAL_UPLOAD.proxyBitsPerSecond;
    const fromData = await recommendObserved(observed(rate, 20_000), UP, {
      ...GRID,
      writeIdle: [...GRID.writeIdle],
      total: [...GRID.total],
      falseTimeoutRate: 0.01,
      margin: 1,
    });
    const assumed = await sweep({
      ...GRID,
      writeIdle: [...GRID.writeIdle],
      total: [...GRID.total],
      scenario: RESIDENTIAL_UPLOAD,
    });
    const cells = fromData.upload!.recommendation.sweep.cells;
    expect(cells).toHaveLength(assumed.cells.length);
    // Different draws (a sketch's bins by one uniform, a lognormal by two), the
    // same distribution within 1 %: every candidate's success rate within 3 σ.
    for (const [i, c] of cells.entries()) {
      const a = assumed.cells[i]!;
      expect([c.chunkBytes, c.writeIdleMs, c.totalMs]).toEqual([
        a.chunkBytes,
        a.writeIdleMs,
        a.totalMs,
      ]);
      const sigma = Math.sqrt((a.successRate * (1 - a.successRate)) / GRID.trials);
      expect(Math.abs(c.successRate - a.successRate)).toBeLessThanOrEqual(3 * sigma + 0.002);
    }
  });

  it("reads the false-timeout rate's percentile, applies the margin, and confirms the result", async () => {
    const rate: Distribution = { kind: "lognormal", median: 4e6, sigma: 0.3, min: 1e6 };
    const r = await recommendObserved(observed(rate, 5000, 20_000), UP, {
      payloadBytes: 1_000_000,
      chunkBytes: [65_536],
      writeIdle: ["2s"],
      trials: 1000,
      workers: 1,
      falseTimeoutRate: 0.01,
      margin: 1.5,
      path: { drop: undefined, tarpit: undefined },
    });
    expect(r.falseTimeoutRate).toBe(0.01);
    // The calls' limits: the sketches' p99 × 1.5, as fromSketches reads them.
    const calls = fromSketches(observed(rate, 5000, 20_000), UP, { quantile: 0.99, margin: 1.5 });
    expect(r.calls.timeouts).toEqual(calls.timeouts);
    const u = r.upload!;
    expect(u.samples).toBe(5000);
    expect(u.recommendation.met).toBe(true);
    expect(u.recommendation.target).toBe(0.99);
    // Totals tried: the payload's time at the slow 1 % of rates, × 1 … 5.
    const totals = [...new Set(u.recommendation.sweep.cells.map((c) => c.totalMs))];
    expect(totals.length).toBeGreaterThanOrEqual(5);
    const cell = u.recommendation.cell;
    expect(u.options!.total).toBeGreaterThanOrEqual(cell.totalMs * 1.5);
    expect(u.options!.total).toBeLessThan(cell.totalMs * 1.5 * 1.1); // two significant digits, up
    expect(u.options!.writeIdle).toBe(3000);
    expect(u.failureRate!).toBeLessThanOrEqual(0.01);
    // Headers after 20 s: a call limit of 30 s costs these uploads nothing: kept.
    expect(u.options!.headers).toBe(r.calls.timeouts.headers);
    expect(() => createFetch({ ...u.options! })).not.toThrow();
    expect(r.summary).toContain("99 %");
  });

  it("leaves a call headers limit that would end uploads off for them, and says why", async () => {
    const r = await recommendObserved(observed(RESIDENTIAL_UPLOAD.proxyBitsPerSecond, 3000), UP, {
      chunkBytes: [65_536],
      writeIdle: ["5s"],
      trials: 500,
      workers: 1,
      falseTimeoutRate: 0.01,
    });
    // ~150 ms × 1.5 for calls; a 2.4 MB upload's buffer drains for seconds after the last pull.
    expect(r.calls.timeouts.headers).toBeLessThan(300);
    expect(r.upload!.options!.headers).toBe(false);
    expect(r.upload!.headersCut!).toBeGreaterThan(0.01);
    expect(r.notes.join("\n")).toMatch(/headers limit \(\d+ ms\) would end .* leave it off/);
  });

  it("plans only calls when no uploads were sketched", async () => {
    const obs = new Observer();
    for (let i = 0; i < 100; i++) obs.record("https://api.example/", "total", 50 + i);
    const r = await recommendObserved(obs, "https://api.example");
    expect(r.upload).toBeUndefined();
    expect(r.calls.timeouts).toEqual(
      fromSketches(obs, "https://api.example", { quantile: 0.999, margin: 1.5 }).timeouts,
    );
  });

  it("rejects bad options, naming the option and the range", async () => {
    const obs = observed(4e6, 10);
    for (const v of [0, -0.1, 0.6, Number.NaN, "1%"]) {
      await expect(recommendObserved(obs, UP, { falseTimeoutRate: v as number })).rejects.toThrow(
        new RangeError(
          `Invalid option 'falseTimeoutRate': expected a number in (0, 0.5], got ${typeof v === "string" ? '"1%"' : v}`,
        ),
      );
    }
    await expect(recommendObserved(obs, UP, { margin: 0.5 })).rejects.toThrow(
      new RangeError("Invalid option 'margin': expected a number >= 1, got 0.5"),
    );
    await expect(
      recommendObserved(obs, UP, { path: { payloadBytes: 5 } as never }),
    ).rejects.toThrow(/Unknown option 'path.payloadBytes'/);
    await expect(recommendObserved(obs, UP, { nope: 1 } as never)).rejects.toThrow(TypeError);
    // The observed rates already include what a trace's changes or loss cost.
    for (const key of ["linkTrace", "lossRate", "lossBurstSegments"]) {
      await expect(recommendObserved(obs, UP, { path: { [key]: 1 } as never })).rejects.toThrow(
        new RegExp(`^Invalid option 'path.${key}': the observed upload rates already include`),
      );
    }
  });

  it("plans behind a proxy that holds the body: the proxy's hold and upstream leg are path options", async () => {
    // Same observed rates; a proxy that holds more than the 2.4 MB body takes
    // it at the client's rate, so the writer's pulls never wait on the slow
    // uplink and a shorter writeIdle keeps the target.
    const obs = observed(RESIDENTIAL_UPLOAD.proxyBitsPerSecond, 2000);
    const plan = (path: object) =>
      recommendObserved(obs, UP, {
        ...GRID,
        chunkBytes: [65_536],
        writeIdle: ["500ms", "1s", "2s", "5s", "10s"],
        total: ["60s"],
        trials: 1000,
        falseTimeoutRate: 0.01,
        path: { drop: undefined, tarpit: undefined, ...path },
      });
    const bare = await plan({});
    const held = await plan({ proxyBufferBytes: 4_000_000, upstreamRttMs: 40 });
    expect(held.upload!.scenario.proxyBufferBytes).toBe(4_000_000);
    expect(held.upload!.scenario.upstreamRttMs).toBe(40);
    expect(bare.upload!.recommendation.met).toBe(true);
    expect(held.upload!.recommendation.met).toBe(true);
    expect(held.upload!.recommendation.cell.writeIdleMs).toBeLessThan(
      bare.upload!.recommendation.cell.writeIdleMs,
    );
  });
});

describe("examples/observe.ts", () => {
  it("sketches calls and uploads from a real run against local servers", async () => {
    const obs = await observeSeed({ gets: 40, uploads: 4, seed: 1 });
    expect(obs.origins()).toEqual(["https://api.example", "https://upload.example"]);
    expect(obs.count("https://api.example", "readGap")).toBe(40);
    expect(obs.count("https://upload.example", "uploadRate")).toBe(4);
    // The server reads at 0.5–25 Mbit/s; the rate runs to the headers, so it can only be lower.
    expect(obs.get("https://upload.example", "uploadRate")!.max).toBeLessThanOrEqual(25e6 * 1.1); // (timers may fire a ms early)
  });
});

describe("timebound recommend --from", () => {
  const cli = fileURLToPath(new URL("../sim/cli.ts", import.meta.url));
  const committed = fileURLToPath(new URL("../examples/observed-sketches.json", import.meta.url));
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [cli, ...args], { timeout: 120_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      ),
    );

  it("plans every origin of the committed example; what it prints, createFetch takes", async () => {
    const r = await run([
      "recommend",
      "--from",
      committed,
      "--payload",
      "2.4MB",
      "--trials",
      "300",
      "--workers",
      "1",
      "--false-timeout-rate",
      "1%",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("https://api.example: false-timeout rate 1.0 % → p99, margin 1.5");
    expect(r.stdout).toContain("readIdle from the longest read gaps");
    expect(r.stdout).toContain("Uploads (rates of");
    const lines = r.stdout.match(/createFetch\(\{.*\}\)/g)!;
    expect(lines.length).toBe(3); // api calls, upload calls, uploads
    for (const line of lines) {
      const options = new Function(`return ${line.slice("createFetch(".length, -1)}`)();
      expect(() => createFetch(options)).not.toThrow();
    }
    const json = await run([
      "recommend",
      "--from",
      committed,
      "--origin",
      "https://upload.example",
      "--trials",
      "300",
      "--workers",
      "1",
      "--target",
      "99%",
      "--json",
    ]);
    const out = JSON.parse(json.stdout);
    expect(out.recommendations).toHaveLength(1);
    expect(out.recommendations[0].falseTimeoutRate).toBeCloseTo(0.01, 12);
    expect(out.recommendations[0].upload.recommendation.met).toBe(true);
    expect(out.recommendations[0].upload.recommendation.sweep).toBeUndefined();
    expect(out.plots).toEqual([]);
  });

  it("takes a proxy preset and its upstream RTT into the simulated path", async () => {
    const r = await run([
      "recommend",
      "--from",
      committed,
      "--origin",
      "https://upload.example",
      "--proxy-preset",
      "squid",
      "--upstream-rtt",
      "30ms",
      "--trials",
      "300",
      "--workers",
      "1",
      "--json",
    ]);
    expect(r.stderr).toBe("");
    const scenario = JSON.parse(r.stdout).recommendations[0].upload.scenario;
    expect(scenario.proxyMode).toBe("streaming");
    expect(scenario.proxyBufferBytes).toBe(64 * 1024 * 1024);
    expect(scenario.upstreamRttMs).toBe(30);
  });

  it("plots the one origin's simulated uploads with --svg", async () => {
    const dir = mkdtempSync(join(tmpdir(), "timebound-rec-"));
    try {
      const svg = join(dir, "from.svg");
      const r = await run([
        "recommend",
        "--from",
        committed,
        "--trials",
        "200",
        "--workers",
        "1",
        "--svg",
        svg,
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Plot written to ${svg}`);
      expect(readFileSync(svg, "utf8")).toContain("Upload success probability vs chunk size");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses what the data replaces, and --from options without --from", async () => {
    const dir = mkdtempSync(join(tmpdir(), "timebound-rec-"));
    try {
      const proxy = await run(["recommend", "--from", committed, "--proxy", "2Mbit"]);
      expect(proxy.code).toBe(2);
      expect(proxy.stderr).toContain("--proxy cannot go with --from");
      for (const [flag, value] of [
        ["--loss", "1%"],
        ["--link-trace", "wifi-onoff"],
      ]) {
        const r = await run(["recommend", "--from", committed, flag!, value!]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(
          `${flag} cannot go with --from: upload rates come from the data`,
        );
      }
      const origin = await run(["recommend", "--origin", "https://x.example"]);
      expect(origin.code).toBe(2);
      expect(origin.stderr).toContain("--origin needs --from");
      const margin = await run(["recommend", "--margin", "2"]);
      expect(margin.code).toBe(2);
      expect(margin.stderr).toContain("--margin needs --from");
      // Two origins with uploads: which one to plot?
      const two = new Observer();
      for (const o of ["https://a.example/", "https://b.example/"]) {
        two.record(o, "total", 100);
        two.record(o, "uploadRate", 4e6);
      }
      const file = join(dir, "two.json");
      writeFileSync(file, JSON.stringify(two.toJSON()));
      const ambiguous = await run(["recommend", "--from", file, "--svg", join(dir, "x.svg")]);
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toContain("2 have: pick one with --origin");
      const missing = await run(["recommend", "--from", join(dir, "none.json")]);
      expect(missing.code).toBe(2);
      expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the committed example is what the script writes: version 1, both origins, every phase", () => {
    const json = JSON.parse(readFileSync(committed, "utf8"));
    const obs = Observer.fromJSON(json);
    expect(obs.count("https://api.example", "total")).toBe(3000);
    expect(obs.count("https://upload.example", "uploadRate")).toBe(400);
  });
});
