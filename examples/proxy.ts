/**
 * A reverse proxy for large uploads with Hono's own `proxy()` helper and
 * `customFetch: c.var.fetch`. The request body is streamed upstream in
 * chunks (nothing is buffered), guarded by `writeIdle` — an upstream that
 * stops reading fails in seconds instead of hanging for the whole `total` —
 * and the response is bounded by the same deadline.
 *
 * The upstream base URL is fixed by the app; the client's path is placed
 * under it with the URL `pathname` setter, never resolved against it, so
 * `//evil.example/x`, `/http://evil.example/` or `..%2f..%2fadmin` stay paths
 * under `/files/` on the same origin.
 *
 * Run: `node examples/proxy.ts` (Node 24) — starts an upload sink and the
 * proxy, sends a 64 MiB upload through it, checks the SHA-256 at the far
 * end, and exits.
 */
import { createHash } from "node:crypto";
import { Hono } from "hono";
import { proxy } from "hono/proxy";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import { isMain, listen } from "./_serve.ts";

/** The upstream URL for an inbound `path` under `prefix`: `base` + the rest of the path, same origin always. */
export function upstreamUrl(base: string, prefix: string, path: string, search: string): URL {
  const target = new URL(base);
  target.pathname = `${target.pathname.replace(/\/$/, "")}${path.slice(prefix.length)}`;
  target.search = search;
  return target;
}

/** The proxy: `/files/*` → `${upstream}/files/*`. */
export function proxyApp(upstream: string): Hono<TimeboundEnv> {
  const app = new Hono<TimeboundEnv>();
  app.use(
    timebound({
      total: "5m", // a large upload on a slow link takes a while; a hang still ends
      headers: "30s", // after the last byte went up, the upstream has 30 s to answer
      writeIdle: "10s", // the upstream stopped accepting bytes for 10 s: give up
      upload: { chunkSize: 64 * 1024 },
      serverTiming: true,
    }),
  );
  app.all("/files/*", (c) =>
    proxy(upstreamUrl(`${upstream}/files`, "/files", c.req.path, new URL(c.req.url).search), {
      ...c.req, // method, headers (hop-by-hop ones are dropped by proxy()), body stream, signal
      customFetch: c.var.fetch,
    }),
  );
  return app;
}

/** An upstream that hashes what it receives. */
export function uploadSink(): Hono {
  const app = new Hono();
  app.post("/files/*", async (c) => {
    const hash = createHash("sha256");
    let bytes = 0;
    const reader = c.req.raw.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      bytes += value.byteLength;
    }
    return c.json({ path: c.req.path, bytes, sha256: hash.digest("hex") });
  });
  return app;
}

/** `total` bytes of deterministic data as a stream, and its SHA-256 once read. */
export function payload(total: number): {
  stream: ReadableStream<Uint8Array>;
  sha256: Promise<string>;
} {
  const hash = createHash("sha256");
  let sent = 0;
  let done!: (hex: string) => void;
  const sha256 = new Promise<string>((r) => {
    done = r;
  });
  const block = new Uint8Array(256 * 1024);
  return {
    sha256,
    stream: new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= total) {
          done(hash.digest("hex"));
          c.close();
          return;
        }
        const piece = block.slice(0, Math.min(block.byteLength, total - sent));
        for (let i = 0; i < piece.byteLength; i += 4096) piece[i] = (sent + i) & 0xff;
        hash.update(piece);
        sent += piece.byteLength;
        c.enqueue(piece);
      },
    }),
  };
}

if (isMain(import.meta.url)) {
  const sink = await listen(uploadSink().fetch);
  const front = await listen(proxyApp(sink.url).fetch);
  const size = 64 * 1024 * 1024;
  const { stream, sha256 } = payload(size);
  const t0 = performance.now();
  const res = await fetch(`${front.url}/files/report.bin`, {
    method: "POST",
    body: stream,
    duplex: "half",
  } as RequestInit);
  const result = (await res.json()) as { path: string; bytes: number; sha256: string };
  const seconds = (performance.now() - t0) / 1000;
  console.log(`POST ${front.url}/files/report.bin → ${res.status}, upstream saw ${result.path}`);
  console.log(
    `  ${result.bytes} bytes in ${seconds.toFixed(2)} s (${(size / 1048576 / seconds).toFixed(0)} MiB/s)`,
  );
  console.log(
    `  SHA-256 ${result.sha256 === (await sha256) ? "matches" : "DIFFERS"}: ${result.sha256}`,
  );
  console.log(`  Server-Timing: ${res.headers.get("server-timing")}`);
  const steer = await fetch(`${front.url}/files//evil.example/x`, { method: "POST", body: "x" });
  console.log(
    `POST /files//evil.example/x → ${steer.status}, upstream saw ${(await steer.json()).path}`,
  );
  await front.close();
  await sink.close();
}
