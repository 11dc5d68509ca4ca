/**
 * Observing in production (issue 13, item 3): per-origin sketches from a
 * real fetch's events, their JSON round trip and merge, and limits planned
 * from them (item 4, the library half).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fc, it as prop } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromSketches, Observer, SKETCH_PHASES } from "../sim/mod.ts";
import { createFetch } from "../src/mod.ts";
import { startServer, type TestServer } from "./_server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    // Headers after 10–30 ms, then a body in two parts 5 ms apart.
    "/api": (_req, res) => {
      setTimeout(
        () => {
          res.writeHead(200).write("part one;");
          setTimeout(() => res.end("part two"), 5);
        },
        10 + Math.floor(Math.random() * 20),
      );
    },
    // Reads the whole request body, answers 200 ms later.
    "/sink": (req, res) => {
      req.resume();
      req.on("end", () => setTimeout(() => res.end("ok"), 200));
    },
  });
});
afterAll(() => server.close());

const values = fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), {
  minLength: 1,
  maxLength: 300,
});

describe("Observer", () => {
  prop.prop([values], { numRuns: 60 })("JSON round trip keeps every quantile", (vs) => {
    const a = new Observer();
    for (const v of vs) a.record("https://x.example/", "headers", v);
    const b = Observer.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    expect(b.count("https://x.example", "headers")).toBe(vs.length);
    for (const q of [0, 0.1, 0.5, 0.9, 0.99, 1]) {
      expect(b.get("https://x.example", "headers")!.getValueAtQuantile(q)).toBe(
        a.get("https://x.example", "headers")!.getValueAtQuantile(q),
      );
    }
  });

  prop.prop([values, values], { numRuns: 60 })(
    "sketches from two processes merge into what one would have kept",
    (xs, ys) => {
      const one = new Observer();
      const a = new Observer();
      const b = new Observer();
      for (const v of xs) {
        one.record("https://x.example/", "total", v);
        a.record("https://x.example/", "total", v);
      }
      for (const v of ys) {
        one.record("https://x.example/", "total", v);
        b.record("https://x.example/", "total", v);
      }
      a.merge(b.toJSON());
      for (const q of [0.5, 0.99]) {
        expect(a.get("https://x.example", "total")!.getValueAtQuantile(q)).toBe(
          one.get("https://x.example", "total")!.getValueAtQuantile(q),
        );
      }
    },
  );

  it("rejects what is not its JSON, naming what is wrong", () => {
    expect(() => Observer.fromJSON({ version: 2 })).toThrow(
      new TypeError("Invalid sketches: expected version 1, got 2"),
    );
    const good = new Observer();
    good.record("https://x.example/", "body", 5);
    const json = good.toJSON();
    const bad = JSON.parse(JSON.stringify(json));
    bad.origins["https://x.example"].nope = bad.origins["https://x.example"].body;
    expect(() => Observer.fromJSON(bad)).toThrow(/unknown phase "nope"/);
    const other = JSON.parse(JSON.stringify(json));
    other.relativeAccuracy = 0.02;
    expect(() => Observer.fromJSON(other)).toThrow(/gamma/);
  });
});

describe("observe → plan → run", () => {
  it("a fetch's events fill the sketches; the limits planned from them run as printed", async () => {
    const observer = new Observer();
    const f = createFetch({ total: "5s", events: observer.events });
    await Promise.all(
      Array.from({ length: 100 }, async () => (await f(`${server.url}/api?k=secret`)).text()),
    );
    expect(observer.origins()).toEqual([server.url]);
    for (const phase of ["total", "headers", "body"] as const) {
      expect(observer.count(server.url, phase)).toBe(100);
    }
    expect(observer.count(server.url, "upload")).toBe(0);
    expect(SKETCH_PHASES).toContain("upload");
    // The longest read gap of each call (its value: test/events.test.ts and the
    // watchdog's property; here the 5 ms between parts may be hidden by a loaded client).
    expect(observer.count(server.url, "readGap")).toBe(100);
    const plan = fromSketches(observer.toJSON(), server.url, { quantile: 0.99, margin: 2 });
    // Headers came after 10–30 ms (more on a loaded machine): the limit is
    // twice the p99, never below what was seen at that rank.
    expect(plan.timeouts.headers!).toBeGreaterThanOrEqual(2 * 10);
    expect(plan.limits.headers!.quantileMs).toBeGreaterThanOrEqual(9.9);
    expect(plan.timeouts.total).toBeGreaterThanOrEqual(plan.timeouts.headers!);
    expect(plan.limits.total!.exceedRate).toBe(0);
    expect(plan.limits.readIdle!.how).toMatch(/^readIdle from the longest read gaps/);
    // What it proposes, createFetch takes.
    const g = createFetch(plan.timeouts);
    expect(await (await g(`${server.url}/api`)).text()).toBe("part one;part two");
  });

  it("an upload's rate runs from its first pull to the headers, so kernel buffers cannot inflate it", async () => {
    const observer = new Observer();
    const f = createFetch({ total: "10s", events: observer.events });
    const big = new Uint8Array(256 * 1024);
    expect(await (await f(`${server.url}/sink`, { method: "POST", body: big })).text()).toBe("ok");
    // Too small to say anything about the path: not sketched.
    const small = new Uint8Array(4 * 1024);
    await (await f(`${server.url}/sink`, { method: "POST", body: small })).text();
    expect(observer.count(server.url, "uploadRate")).toBe(1);
    // Loopback takes 256 KiB in well under a millisecond, but the server
    // answers 200 ms after the body: the rate is at most 256 KiB per 200 ms.
    const rate = observer.get(server.url, "uploadRate")!.max;
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(((big.length * 8) / 0.2) * 1.01);
  });

  it("an origin with no observations is named, with those that have some", () => {
    const o = new Observer();
    o.record("https://a.example/x", "total", 10);
    expect(() => fromSketches(o, "https://b.example")).toThrow(
      'No observations of whole calls for "https://b.example"; the sketches hold "https://a.example"',
    );
  });
});

describe("timebound plan --from", () => {
  const cli = fileURLToPath(new URL("../sim/cli.ts", import.meta.url));
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      ),
    );

  it("prints, per origin, limits and a createFetch line that createFetch accepts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "timebound-plan-"));
    try {
      const obs = new Observer();
      for (let i = 0; i < 2000; i++) {
        obs.record("https://api.example/v1", "total", 150 + (i % 100));
        obs.record("https://api.example/v1", "headers", 100 + (i % 100));
        obs.record("https://api.example/v1", "body", 20);
      }
      const file = join(dir, "sketches.json");
      writeFileSync(file, JSON.stringify(obs.toJSON()));
      const r = await run(["plan", "--from", file, "--quantile", "99.9%", "--margin", "1.5"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("https://api.example (2000 calls; p99.9 × 1.5, rounded up):");
      const line = /createFetch\(\{.*\}\)/.exec(r.stdout)![0];
      const options = new Function(`return ${line.slice("createFetch(".length, -1)}`)();
      expect(() => createFetch(options)).not.toThrow();
      expect(options.headers).toBe("300ms"); // p99.9 ≈ 199 ms × 1.5, rounded up

      const json = await run(["plan", "--from", file, "--json"]);
      // The defaults: p99.9 × 1.5; p99.9 of the totals ≈ 249 ms → 374 → 380.
      expect(JSON.parse(json.stdout).plans[0].plan.timeouts.total).toBe(380);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a file that is not sketches is one line and exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "timebound-plan-"));
    try {
      const file = join(dir, "x.json");
      writeFileSync(file, JSON.stringify({ version: 9 }));
      const r = await run(["plan", "--from", file]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("expected version 1, got 9");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
