/**
 * The Hono middleware over real sockets on 127.0.0.1 (@hono/node-server in
 * front, node:http upstreams behind): where the connection is the point —
 * client disconnects, truncated streams, sockets released, proxying.
 */
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { Hono } from "hono";
import { proxy } from "hono/proxy";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import {
  eventually,
  serveApp,
  startUpstream,
  trickle,
  type Upstream,
  within,
} from "./hono_helpers.ts";

/** 16 MiB: well past the 4 MiB loopback send buffer, so the upload really streams. */
const UPLOAD_BYTES = 16 * 1024 * 1024;

let upstream: Upstream;
let front: { url: string; close(): Promise<void> };

/** Deterministic bytes (xorshift), in pieces of 64 KiB, without holding them all. */
function payload(total: number): { stream: ReadableStream<Uint8Array>; digest: Promise<string> } {
  const hash = createHash("sha256");
  let sent = 0;
  let x = 0x9e3779b9;
  let resolveDigest!: (d: string) => void;
  const digest = new Promise<string>((r) => {
    resolveDigest = r;
  });
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) {
        resolveDigest(hash.digest("hex"));
        c.close();
        return;
      }
      const n = Math.min(65_536, total - sent);
      const piece = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        piece[i] = x & 0xff;
      }
      hash.update(piece);
      sent += n;
      c.enqueue(piece);
    },
  });
  return { stream, digest };
}

/** Only the app picks the upstream base; the client's path lands under it, encoded as sent. */
function upstreamUrl(base: string, prefix: string, path: string, search: string): URL {
  const target = new URL(base);
  // Setting `pathname` (not resolving a relative URL against `base`) keeps
  // the origin fixed: "//evil.example/x" or "http://evil.example/" stays a path.
  target.pathname = `${target.pathname.replace(/\/$/, "")}${path.slice(prefix.length)}`;
  target.search = search;
  return target;
}

beforeAll(async () => {
  upstream = await startUpstream((path) => {
    if (path === "/hang") return () => {}; // accepts, never answers
    if (path === "/trickle") return trickle(20);
    if (path === "/admin") return (_req, res) => res.end("SECRET");
    if (path === "/files/upload") {
      return (req, res) => {
        const hash = createHash("sha256");
        let bytes = 0;
        req.on("data", (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        req.on("end", () =>
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              sha256: hash.digest("hex"),
              bytes,
              te: req.headers["transfer-encoding"] ?? null,
            }),
          ),
        );
      };
    }
    if (path.startsWith("/files/")) {
      return (req, res) =>
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ path: req.url }));
    }
    return undefined;
  });

  const app = new Hono<TimeboundEnv>();
  app.use(timebound({ total: "10s", writeIdle: "5s", headers: "5s" }));
  app.get("/hang", async (c) => c.text(await (await c.var.fetch(`${upstream.url}/hang`)).text()));
  app.get("/stream", (c) => c.var.fetch(`${upstream.url}/trickle`));
  app.get("/unread", async (c) => {
    await c.var.fetch(`${upstream.url}/trickle`); // its body is never read
    return c.text("answered");
  });
  // Fan-out: 30 calls in flight at once in one scope, with or without a signal of the handler's.
  app.get("/fanout", async (c) => {
    const own = c.req.query("own") === "1" ? new AbortController().signal : undefined;
    const bodies = await Promise.all(
      Array.from({ length: 30 }, async (_, i) =>
        (await c.var.fetch(`${upstream.url}/files/${i}`, { signal: own })).json(),
      ),
    );
    return c.json(bodies.map((b) => (b as { path: string }).path));
  });
  app.all("/proxy/*", (c) =>
    proxy(upstreamUrl(`${upstream.url}/files`, "/proxy", c.req.path, new URL(c.req.url).search), {
      ...c.req,
      customFetch: c.var.fetch,
    }),
  );
  front = await serveApp(app);
});

afterAll(async () => {
  await front?.close();
  await upstream?.close();
});

describe("over real sockets", () => {
  it("many calls in flight in one scope, sharing a signal, add no listener warning (as bare fetch)", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      for (const own of ["0", "1"]) {
        const res = await fetch(`${front.url}/fanout?own=${own}`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual(Array.from({ length: 30 }, (_, i) => `/files/${i}`));
      }
      await new Promise((r) => setTimeout(r, 10)); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.map((w) => w.name)).toEqual([]);
  });

  it("a client disconnect aborts the upstream fetch: the upstream sees its connection close", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const before = upstream.seen.length;
    const ac = new AbortController();
    const pending = fetch(`${front.url}/hang`, { signal: ac.signal }).catch((e: unknown) => e);
    await within(upstream.arrived(before + 1), 5_000, "the upstream request");
    const seen = upstream.seen[before]!;
    expect(seen.path).toBe("/hang");
    const abortedAt = performance.now();
    ac.abort();
    const closed = await within(seen.closed, 5_000, "the upstream to see the close");
    expect(closed.finished).toBe(false);
    // Prompt, not at the 10 s deadline.
    expect(performance.now() - abortedAt).toBeLessThan(3_000);
    await pending;
    await eventually(() => upstream.live() === 0, 5_000, "no live upstream request");
    // A client that left is not an error worth a stack trace per request.
    expect(logged).not.toHaveBeenCalled();
    logged.mockRestore();
  });

  it("a streamed upstream body is cut at the deadline: the client sees a truncated body, the upstream a close", async () => {
    const before = upstream.seen.length;
    const t0 = performance.now();
    const res = await fetch(`${front.url}/stream`, { headers: { "grpc-timeout": "500m" } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let bytes = 0;
    let error: unknown;
    try {
      for (;;) {
        const r = await within(reader.read(), 5_000, "a body read");
        if (r.done) break;
        bytes += r.value.byteLength;
      }
    } catch (e) {
      error = e;
    }
    const elapsed = performance.now() - t0;
    expect(bytes).toBeGreaterThan(0);
    expect(error).toBeDefined(); // truncated: the chunked body never ended cleanly
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(3_000);
    const closed = await within(upstream.seen[before]!.closed, 5_000, "the upstream close");
    expect(closed.finished).toBe(false);
  });

  it("no upstream request outlives its inbound request: an unread body is released once the answer is sent", async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${front.url}/unread`);
    expect(await res.text()).toBe("answered");
    const answeredAt = performance.now();
    await within(upstream.seen[before]!.closed, 3_000, "the unread upstream body to be released");
    expect(performance.now() - answeredAt).toBeLessThan(3_000); // not the 10 s deadline
    await eventually(() => upstream.live() === 0, 5_000, "no live upstream request");
  });

  it("a deadline from grpc-timeout gives a 504 problem+json over the wire", async () => {
    const t0 = performance.now();
    const res = await fetch(`${front.url}/hang`, { headers: { "grpc-timeout": "300m" } });
    expect(res.status).toBe(504);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({
      status: 504,
      phase: "total",
      title: "Gateway Timeout",
    });
    expect(performance.now() - t0).toBeLessThan(3_000);
    await eventually(() => upstream.live() === 0, 5_000, "no live upstream request");
  });
});

describe("proxy(url, { ...c.req, customFetch: c.var.fetch })", () => {
  it(`streams a ${UPLOAD_BYTES / 1024 / 1024} MiB upload upstream byte-exact`, async () => {
    const { stream, digest } = payload(UPLOAD_BYTES);
    const res = await within(
      fetch(`${front.url}/proxy/upload`, {
        method: "POST",
        body: stream,
        duplex: "half",
        headers: { "content-type": "application/octet-stream" },
      } as RequestInit),
      30_000,
      "the proxied upload",
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sha256: string; bytes: number; te: string | null };
    expect(body.bytes).toBe(UPLOAD_BYTES);
    expect(body.sha256).toBe(await digest);
    expect(body.te).toBe("chunked"); // streamed, not buffered into one piece
  });

  const steering: [string, string][] = [
    ["/proxy/..%2f..%2fadmin", "/files/..%2f..%2fadmin"],
    ["/proxy/http://evil.example/x", "/files/http://evil.example/x"],
    ["/proxy//evil.example/x", "/files//evil.example/x"],
    ["/proxy/a/%2e%2e/%2e%2e/admin", "404"], // WHATWG URL resolves %2e%2e: it never reaches /proxy
  ];
  for (const [path, expected] of steering) {
    it(`cannot steer the upstream with ${path}`, async () => {
      const before = upstream.seen.length;
      const res = await fetch(`${front.url}${path}`);
      const text = await res.text();
      expect(text).not.toContain("SECRET");
      if (expected === "404") {
        expect(res.status).toBe(404);
        expect(upstream.seen.length).toBe(before);
        return;
      }
      expect(res.status).toBe(200);
      expect(JSON.parse(text)).toEqual({ path: expected });
      expect(upstream.seen.slice(before).map((s) => s.path)).toEqual([expected]);
    });
  }

  it("cannot steer the upstream with an absolute-form request target", async () => {
    const before = upstream.seen.length;
    const { port } = new URL(front.url);
    const raw = await within(
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), "127.0.0.1");
        let data = "";
        socket.on("data", (d: Buffer) => {
          data += d.toString("latin1");
        });
        socket.on("end", () => resolve(data));
        socket.on("error", reject);
        socket.write(
          "GET http://evil.example/proxy/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        );
      }),
      5_000,
      "the raw response",
    );
    expect(raw).not.toContain("SECRET");
    // Whatever Hono makes of the target, the upstream is the app's: any
    // request that went out went to our upstream, under /files/.
    for (const s of upstream.seen.slice(before)) expect(s.path.startsWith("/files/")).toBe(true);
  });
});
