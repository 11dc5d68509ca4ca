/**
 * The `timebound` command line, through a child process as a user runs it:
 * help with examples on every command, exit codes, one-line errors naming
 * the flag, the --json shapes, probe against a local server, and a rendered
 * SVG checked for its axes and series.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROXY_PRESETS } from "../sim/mod.ts";
import { createFetch } from "../src/mod.ts";
import { DEFAULT_TOTAL_MS } from "../src/policy.ts";
import { root, runCli as run } from "./_cli.ts";
import { evaluateSnippet, snippetsIn } from "./_snippet.ts";

const _cli = join(root, "sim", "cli.ts");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "timebound-cli-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Each child process spends ~0.3 s starting up: run the independent ones side by side.
describe.concurrent("help", () => {
  for (const command of [
    [],
    ["sim", "upload"],
    ["sweep"],
    ["recommend"],
    ["budget"],
    ["capacity"],
    ["probe"],
  ]) {
    it(`timebound ${command.join(" ")} --help: usage and examples, exit 0`, async ({ expect }) => {
      const r = await run([...command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage: timebound");
      expect(r.stdout).toContain("Examples:");
      expect(r.stdout).toMatch(/\$ timebound \w/);
    });
  }
});

describe.concurrent("invalid input: one line naming the flag, exit 2", () => {
  const cases: [string[], string][] = [
    [
      ["budget", "--total", "5x"],
      "option '--total <limit>' argument '5x' is invalid. Cannot parse duration \"5x\"",
    ],
    [["budget", "--bogus"], "unknown option '--bogus'"],
    [["sweep", "--chunks", "8KiB,,"], "option '--chunks <sizes>' argument '8KiB,,' is invalid"],
    [
      ["sweep", "--payload", "2.4"],
      "option '--payload <size>' argument '2.4' is invalid. Cannot parse size",
    ],
    [
      ["recommend", "--target", "1.5"],
      "option '--target <p>' argument '1.5' is invalid. expected a probability in (0, 1)",
    ],
    [["recommend", "--trials", "0"], "option '--trials <n>' argument '0' is invalid"],
    [["recommend", "--upstream-rtt", "50ms"], "option '--upstream-rtt' needs --proxy-preset"],
    [
      ["recommend", "--proxy-preset", "squid", "--proxy-mode", "streaming"],
      "option '--proxy-preset <name>' cannot be used with option '--proxy-mode <mode>'",
    ],
    [
      ["sweep", "--proxy-preset", "varnish"],
      "option '--proxy-preset <name>' argument 'varnish' is invalid",
    ],
    [
      ["sim", "upload", "--proxy", "2M"],
      "option '--proxy <rate>' argument '2M' is invalid. Cannot parse rate",
    ],
    [
      ["sim", "upload", "--proxy-mode", "magic"],
      "option '--proxy-mode <mode>' argument 'magic' is invalid",
    ],
    [["capacity", "--rate", "0"], "option '--rate <n>' argument '0' is invalid"],
    [
      ["capacity", "--variants", "none,foo"],
      "option '--variants <list>' argument 'none,foo' is invalid",
    ],
    [["capacity", "--slow-until", "10s"], "option '--slow-until' must be after --slow-from"],
    [["capacity", "--propagate-deadline"], "option '--propagate-deadline' needs --patience"],
    [["capacity", "--patience", "0"], "option '--patience <limit>' argument '0' is invalid"],
    [
      ["probe", "ftp://example.com"],
      "value 'ftp://example.com' is invalid for argument 'url'. expected an http or https URL",
    ],
    [["probe"], "missing required argument 'url'"],
    [["recomend"], "unknown command 'recomend' (Did you mean recommend?)"],
    [
      ["sweep", "--chunks", "16KiB,512B"],
      "option '--chunks <sizes>' argument '16KiB,512B' is invalid. expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got \"512B\"",
    ],
    [
      ["sim", "upload", "--chunk", "100B"],
      "option '--chunk <size>' argument '100B' is invalid. expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got \"100B\"",
    ],
    [
      ["budget", "--chunk", "32MiB"],
      "option '--chunk <size>' argument '32MiB' is invalid. expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got \"32MiB\"",
    ],
    [
      ["budget", "--total", "1min 30 s"],
      "option '--total <limit>' argument '1min 30 s' is invalid. Cannot parse duration \"1min 30 s\"",
    ],
  ];
  for (const [args, message] of cases) {
    it(`timebound ${args.join(" ")}`, async ({ expect }) => {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^timebound[\w ]*: error: /);
      expect(r.stderr).toContain(message);
    });
  }
});

describe("--json", () => {
  it("budget: four columns of six phases, ∞ as null", async () => {
    const r = await run(["budget", "--total", "5s", "--retries", "2", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.command).toBe("budget");
    expect(j.columns.map((c: { semantics: string }) => c.semantics)).toEqual([
      "timebound",
      "got",
      "ky",
      "requests",
    ]);
    for (const c of j.columns) {
      expect(Object.keys(c).sort()).toEqual(
        ["boundMs", "cappedBy", "mapping", "rows", "semantics"].filter(
          (k) => k !== "cappedBy" || c.cappedBy !== undefined,
        ),
      );
      expect(c.rows.map((x: { phase: string }) => x.phase)).toEqual([
        "dns",
        "connect",
        "upload",
        "headers",
        "body",
        "retries",
      ]);
    }
    expect(j.columns[0].boundMs).toBe(5000);
    expect(j.columns[1].boundMs).toBe(3 * 5000 + 1100 + 2100);
    expect(j.columns[2].boundMs).toBeNull(); // ky: the body is never timed
  });

  it("sim upload: params and result", async () => {
    const r = await run([
      "sim",
      "upload",
      "--payload",
      "1MB",
      "--proxy",
      "2Mbit",
      "--total",
      "2s",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.params).toMatchObject({
      payloadBytes: 1_000_000,
      proxyBitsPerSecond: 2e6,
      timeouts: { total: 2000 },
    });
    expect(j.result).toMatchObject({ outcome: "timeout", phase: "total", elapsedMs: 2000 });
  });

  it("sim upload --proxy-preset: a measured proxy's mode and buffer; not with --proxy-mode or --proxy-buffer", async () => {
    const [squid, nginx, clash] = await Promise.all([
      run(["sim", "upload", "--proxy-preset", "squid", "--json"]),
      run(["sim", "upload", "--proxy-preset", "nginx-buffered", "--json"]),
      run(["sim", "upload", "--proxy-preset", "tinyproxy", "--proxy-buffer", "1MB"]),
    ]);
    expect(JSON.parse(squid.stdout).params).toMatchObject(PROXY_PRESETS.squid);
    expect(JSON.parse(squid.stdout).params.proxyBufferBytes).toBeGreaterThan(0);
    expect(JSON.parse(nginx.stdout).params).toMatchObject({ proxyMode: "store-and-forward" });
    expect(JSON.parse(nginx.stdout).params.proxyBufferBytes).toBeUndefined();
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/--proxy-preset.*cannot be used with.*--proxy-buffer/);
  });

  it("sweep: one cell per candidate, reproducible", async () => {
    const args = [
      "sweep",
      "--chunks",
      "16KiB,64KiB",
      "--write-idle",
      "2s,off",
      "--total",
      "20s,60s",
      "--trials",
      "30",
      "--json",
    ];
    const [a, b] = await Promise.all([run(args), run([...args, "--workers", "1"])]);
    expect(a.code).toBe(0);
    const ja = JSON.parse(a.stdout);
    expect(ja.cells).toHaveLength(8);
    expect(Object.keys(ja.cells[0]).sort()).toEqual([
      "chunkBytes",
      "failures",
      "meanMs",
      "ok",
      "p50Ms",
      "p99Ms",
      "successHigh",
      "successLow",
      "successRate",
      "totalMs",
      "trials",
      "writeIdleMs",
    ]);
    expect(ja.cells[1].writeIdleMs).toBe(2000);
    expect(ja.cells[2].writeIdleMs).toBeNull(); // off
    expect(JSON.parse(b.stdout).cells).toEqual(ja.cells);
  });

  it("recommend --proxy-preset: the measured proxy's mode and buffer reach every simulated upload", async () => {
    const common = ["--chunks", "64KiB", "--write-idle", "5s", "--total", "60s", "--trials", "40"];
    const [streaming, buffered] = await Promise.all([
      run([
        "recommend",
        "--proxy-preset",
        "tinyproxy",
        "--upstream-rtt",
        "50ms",
        ...common,
        "--json",
      ]),
      run(["recommend", "--proxy-preset", "nginx-buffered", ...common, "--json"]),
    ]);
    expect(streaming.code).toBe(0);
    expect(JSON.parse(streaming.stdout).sweep.scenario).toMatchObject({
      proxyMode: "streaming",
      proxyBufferBytes: 1_000_000,
      upstreamRttMs: 50,
    });
    expect(JSON.parse(buffered.stdout).sweep.scenario.proxyMode).toBe("store-and-forward");
    const text = await run(["recommend", "--proxy-preset", "tinyproxy", ...common]);
    expect(text.stdout).toContain("through a streaming proxy holding up to 1 MB");
  });

  it("recommend: met → options for createFetch; out of reach → exit 3 and the binding constraint", async () => {
    const common = ["--chunks", "64KiB", "--write-idle", "5s", "--trials", "40", "--json"];
    const [ok, missed] = await Promise.all([
      run(["recommend", "--total", "90s", "--target", "0.9", ...common]),
      run(["recommend", "--total", "3s", "--target", "0.9", ...common]),
    ]);
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.stdout);
    expect(j).toMatchObject({
      command: "recommend",
      met: true,
      target: 0.9,
      options: { total: 90_000, writeIdle: 5000, upload: { chunkSize: 65_536 } },
    });
    expect(j.sweep.cells).toHaveLength(1);
    expect(missed.code).toBe(3);
    const m = JSON.parse(missed.stdout);
    expect(m).toMatchObject({ met: false, binding: "total" });
    expect(m.summary).toContain("No chunk size helps");
  });

  /** A 20 s run, slow from 5 s to 15 s. */
  const SHORT_CAPACITY = [
    "capacity",
    "--duration",
    "20s",
    "--slow-from",
    "5s",
    "--slow-until",
    "15s",
  ];

  it("capacity: one run per variant with series and the Little's law check", async () => {
    const r = await run([...SHORT_CAPACITY, "--variants", "none,breaker", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.runs.map((x: { variant: string }) => x.variant)).toEqual(["none", "breaker"]);
    for (const run of j.runs) {
      expect(run.series.length).toBeGreaterThanOrEqual(20);
      expect(Object.keys(run.littlesLaw).sort()).toEqual([
        "L",
        "lambdaPerSecond",
        "meanTimeInSystemMs",
        "relativeError",
        "sampledL",
        "sampledRelativeError",
      ]);
      expect(run.littlesLaw.relativeError).toBeLessThan(1e-9);
    }
  });

  it("capacity --patience: callers who give up and retry; deadlines propagated only where timebound runs", async () => {
    const r = await run([
      "capacity",
      "--duration",
      "60s",
      "--slow-from",
      "10s",
      "--slow-until",
      "50s",
      "--variants",
      "none,breaker",
      "--patience",
      "2s",
      "--caller-retries",
      "3",
      "--no-caller-jitter",
      "--keep-abandoned",
      "--propagate-deadline",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const [none, breaker] = JSON.parse(r.stdout).runs;
    expect(none.callers).toEqual({
      patienceMs: 2000,
      retries: 3,
      jitter: false,
      dropAbandoned: false,
      propagateDeadline: false,
    });
    expect(breaker.callers.propagateDeadline).toBe(true);
    // Plain fetch keeps workers busy for callers already gone; propagated
    // deadlines free them (the herd, test/sim_callers.test.ts).
    expect(none.totals.wastedWorkerMs).toBeGreaterThan(0);
    expect(breaker.totals.wastedWorkerMs).toBe(0);
    expect(none.totals.callerRetries).toBeGreaterThan(breaker.totals.callerRetries);
    const text = await run([...SHORT_CAPACITY, "--variants", "none", "--patience", "2s"]);
    expect(text.stdout).toContain("Callers give up after 2 s");
    expect(text.stdout).toContain("The service's callers:");
  });
});

describe("probe", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => setTimeout(() => res.end("hello"), 20));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("times N requests curl-style and proposes limits from them", async () => {
    const r = await run(["probe", url, "-n", "4", "-X", "POST", "--data-size", "100KB", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.samples).toHaveLength(4);
    for (const s of j.samples) {
      expect(s.status).toBe(200);
      expect(s.bytes).toBe(5);
      expect(s.time_starttransfer).toBeGreaterThanOrEqual(0.019);
      expect(s.time_total).toBeGreaterThanOrEqual(s.time_starttransfer);
    }
    expect(j.proposal.timeouts.headers).toBeGreaterThanOrEqual(38); // ≥ 20 ms × 2
    expect(j.proposal.notes.join()).toContain("only 4 samples");
  });

  it("prints a table and a createFetch line for people, which createFetch accepts as printed", async () => {
    const r = await run(["probe", url, "-n", "2"]);
    expect(r.code).toBe(0);
    // The header wraps to its column's width: "first" over "byte".
    expect(r.stdout).toMatch(/│ first │[^\n]*\n[^\n]*│ +byte │/);
    expect(r.stdout).toMatch(/createFetch\(\{ total: "\d+ms"/);
    const [line, ...more] = snippetsIn(r.stdout);
    expect(more).toEqual([]);
    expect(() => createFetch(evaluateSnippet(line!) as never)).not.toThrow();
  });

  it("a bodyless GET gets no writeIdle; every limit is floored at 250 ms", async () => {
    const r = await run(["probe", url, "-n", "3", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const s of j.samples) expect(s.time_posttransfer).toBeUndefined();
    expect(Object.keys(j.proposal.timeouts).sort()).toEqual(["headers", "readIdle", "total"]);
    expect(j.proposal.limits.writeIdle).toBeUndefined();
    // A 20 ms server: p99 × 2 is far below the floor.
    for (const v of Object.values(j.proposal.timeouts)) expect(v).toBe(250);
    expect(j.proposal.notes.join("\n")).not.toContain("writeIdle");
  });

  it("an upload gets a writeIdle, floored too", async () => {
    const r = await run(["probe", url, "-n", "2", "-X", "POST", "--data-size", "10KB", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.proposal.timeouts.writeIdle).toBeGreaterThanOrEqual(250);
  });

  it("a name that does not resolve is one line on stderr and exit 1, with no rows of timings", async () => {
    // RFC 6761 §6.4: names under .invalid never resolve, so no network is needed.
    const r = await run(["probe", "http://no-such-host.invalid/", "-n", "10"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^timebound probe: error: cannot resolve "no-such-host\.invalid" \(.*\); nothing was sent\n$/,
    );
  });
});

describe("advice runs as printed", () => {
  const quick = [
    "--chunks",
    "16KiB,64KiB",
    "--trials",
    "40",
    "--drop-rate",
    "0",
    "--tarpit-rate",
    "0",
  ];

  it("recommend's createFetch line for totals ≥ 60 s and for limits off is accepted as printed", async () => {
    const runs = await Promise.all([
      run(["recommend", "--total", "90s", "--write-idle", "5s", "--target", "0.9", ...quick]),
      run(["recommend", "--total", "2min", "--write-idle", "off", "--target", "0.9", ...quick]),
      run(["recommend", "--total", "off", "--write-idle", "off", "--target", "0.9", ...quick]),
    ]);
    const expected = [
      { total: "90s", writeIdle: "5s" },
      { total: "2m", writeIdle: false },
      { total: false, writeIdle: false },
    ];
    for (const [i, r] of runs.entries()) {
      expect(r.code, r.stderr).toBe(0);
      const lines = snippetsIn(r.stdout);
      expect(lines).toHaveLength(1);
      const options = evaluateSnippet(lines[0]!);
      expect(options).toMatchObject(expected[i]!);
      expect(() => createFetch(options as never)).not.toThrow();
    }
  });

  it("--target 99.9% and --target 0.999 give the same answer", async () => {
    const args = ["recommend", "--total", "30s,60s", "--write-idle", "5s", ...quick, "--json"];
    const [a, b] = await Promise.all([
      run([...args, "--target", "99.9%"]),
      run([...args, "--target", "0.999"]),
    ]);
    expect(a.code).toBe(b.code);
    const ja = JSON.parse(a.stdout);
    expect(ja.target).toBe(0.999);
    expect(ja).toEqual(JSON.parse(b.stdout));
  });

  it("no ✔ while the 95 % interval reaches below the target", async () => {
    // 40 of 40 succeed: the Wilson interval is about 91.2–100 %.
    const common = ["--total", "90s", "--write-idle", "5s", ...quick];
    const [sure, unsure] = await Promise.all([
      run(["recommend", ...common, "--target", "0.9"]),
      run(["recommend", ...common, "--target", "0.95"]),
    ]);
    expect(sure.code).toBe(0);
    expect(sure.stdout).toMatch(/^✔ Chunks of /m);
    expect(unsure.code).toBe(0);
    expect(unsure.stdout).not.toContain("✔");
    // The verdict line may wrap at 100 columns.
    expect(unsure.stdout).toMatch(/^\? Chunks of [\s\S]*?95 % CI\s+91\.\d %–100 %/m);
    expect(unsure.stdout).toContain("reaches below the target");
    const j = JSON.parse(
      (await run(["recommend", ...common, "--target", "0.95", "--json"])).stdout,
    );
    expect(j).toMatchObject({ met: true, confident: false });
    expect(j.cell.successLow).toBeLessThan(0.95);
  });

  it("budget without --total uses createFetch's default total; --total off has none", async () => {
    const [dflt, off, text] = await Promise.all([
      run(["budget", "--read-idle", "5s", "--response-size", "10KiB", "--json"]),
      run(["budget", "--read-idle", "5s", "--response-size", "10KiB", "--total", "off", "--json"]),
      run(["budget", "--read-idle", "5s", "--response-size", "10KiB"]),
    ]);
    const d = JSON.parse(dflt.stdout);
    expect(d.config.total).toBe(DEFAULT_TOTAL_MS);
    expect(d.columns[0]).toMatchObject({ boundMs: DEFAULT_TOTAL_MS, cappedBy: "total 30 s" });
    const o = JSON.parse(off.stdout);
    expect(o.config.total).toBe(false);
    expect(o.columns[0].boundMs).toBeNull(); // ∞
    expect(text.stdout).toContain("Worst case of total 30 s,");
    expect(text.stdout).toContain("bound: 30 s, capped by total 30 s");
  });
});

describe("plots", () => {
  /** Text of every <text> element. */
  const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

  it("recommend --svg/--html: axes, one line per writeIdle per total, the target and the choice", async () => {
    const svgPath = join(dir, "rec.svg");
    const htmlPath = join(dir, "rec.html");
    const r = await run([
      "recommend",
      "--chunks",
      "16KiB,64KiB,256KiB",
      "--write-idle",
      "1s,5s,off",
      "--total",
      "30s,60s",
      "--trials",
      "40",
      "--target",
      "0.9",
      "--svg",
      svgPath,
      "--html",
      htmlPath,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Plot written to ${svgPath}`);
    const svg = readFileSync(svgPath, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    const t = texts(svg);
    expect(t).toContain("chunk size (KiB)");
    expect(t).toContain("success probability");
    expect(t).toContain("writeIdle");
    for (const label of [
      "1 s",
      "5 s",
      "none",
      "total 30 s",
      "total 1 min",
      "16",
      "64",
      "256",
      "10 %",
      "50 %",
      "75 %",
      "90 %",
    ]) {
      expect(t).toContain(label);
    }
    // The log-odds axis: 10 %, 50 % and 75 % are ticks far enough apart to tell.
    const tickY = (label: string) =>
      Number(new RegExp(`translate\\(-?[\\d.]+,(-?[\\d.]+)\\)"[^>]*>${label}<`).exec(svg)?.[1]);
    const [y10, y50, y75] = ["10 %", "50 %", "75 %"].map(tickY);
    expect(y10! - y50!).toBeGreaterThan(20);
    expect(y50! - y75!).toBeGreaterThan(10);
    // Two panels (totals) × three series (writeIdle limits).
    expect(svg.match(/class="mark-line role-mark/g)).toHaveLength(6);
    // Each point is labelled for screen readers with what it means.
    expect(svg).toMatch(
      /aria-label="16 KiB chunks, writeIdle 1 s, total 30 s: \d+\.\d\d % succeed"/,
    );
    // The target rule and the ring around the choice.
    expect(svg).toContain("child_layer_2_marks");
    expect(svg.match(/child_layer_1_marks/g)!.length).toBeGreaterThan(0);
    const html = readFileSync(htmlPath, "utf8");
    expect(html).toContain("<svg");
    expect(html).toContain("Recommendation for");
    expect(html).not.toContain("<script");
  });

  it("capacity --svg: three panels over time, one line per client", async () => {
    const svgPath = join(dir, "cap.svg");
    const r = await run([
      "capacity",
      "--duration",
      "30s",
      "--slow-from",
      "10s",
      "--slow-until",
      "20s",
      "--svg",
      svgPath,
    ]);
    expect(r.code).toBe(0);
    const svg = readFileSync(svgPath, "utf8");
    const t = texts(svg);
    for (const label of [
      "time (s)",
      "goodput (ok/s)",
      "p99 time in system (s)",
      "requests in system",
      "no timeouts",
      "client",
    ]) {
      expect(t).toContain(label);
    }
    expect(t.some((x) => x.includes("breaker"))).toBe(true);
    expect(t.some((x) => x.startsWith("dependency: "))).toBe(true);
    // Three panels × four client variants.
    expect(svg.match(/class="mark-line role-mark/g)).toHaveLength(12);
  });
});

describe("output fits 100 columns", () => {
  it.each([
    ["sweep", "--trials", "50", "--chunks", "8KiB,64KiB"],
    ["recommend", "--trials", "50", "--chunks", "8KiB,64KiB", "--target", "0.95"],
    ["capacity", "--duration", "30s"],
    ["budget"],
    ["budget", "--read-idle", "5s", "--connect", "5s", "--response-size", "10KiB"],
  ])("timebound %s …", async (...args) => {
    const r = await run(args);
    expect(r.stderr).toBe("");
    const widest = Math.max(...r.stdout.split("\n").map((l) => [...l].length));
    expect(widest).toBeLessThanOrEqual(100);
  });
});
