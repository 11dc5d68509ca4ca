/**
 * The benchmarks' HTTP server, run in its own process (so client and server
 * do not share an event loop): `node bench/_server.ts [port]`. Prints
 * `listening <port>` once ready. Routes:
 *
 * - `GET /small`            a 64-byte body
 * - `GET /bytes?n=N`        N bytes (64 KiB writes, honouring backpressure)
 * - `GET /firehose`         bytes as fast as the socket takes them, until the
 *                           client goes away (capped at `ROUTE_CAP_MS`)
 * - `POST /sink`            reads the whole body; answers with its length
 * - `GET /hold`             answers nothing until `GET /release`
 * - `GET /held`             how many requests `/hold` is holding
 * - `GET /release`          answers every held request (`connection: close`)
 *
 * Every loop is bounded in time; the process exits on SIGTERM or when its
 * parent's stdin closes, so nothing outlives the benchmark.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/** Nothing streams longer than this, whoever forgets to hang up. */
const ROUTE_CAP_MS = 60_000;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const SMALL = Buffer.from(`${"x".repeat(63)}\n`);

const held = new Set<ServerResponse>();

function stream(req: IncomingMessage, res: ServerResponse, bytes: number): void {
  res.writeHead(200, { "content-type": "application/octet-stream" });
  const until = performance.now() + ROUTE_CAP_MS;
  let left = bytes;
  let gone = false;
  req.socket.once("close", () => {
    gone = true;
  });
  const pump = (): void => {
    while (!gone && left > 0 && performance.now() < until) {
      const n = Math.min(left, CHUNK.byteLength);
      left -= n;
      if (!res.write(n === CHUNK.byteLength ? CHUNK : CHUNK.subarray(0, n))) {
        res.once("drain", pump);
        return;
      }
    }
    if (!gone) res.end();
  };
  pump();
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  switch (url.pathname) {
    case "/small":
      res.writeHead(200, { "content-type": "text/plain", "content-length": SMALL.byteLength });
      res.end(SMALL);
      return;
    case "/bytes":
      stream(req, res, Number(url.searchParams.get("n") ?? 0));
      return;
    case "/firehose":
      stream(req, res, Number.POSITIVE_INFINITY);
      return;
    case "/sink": {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.byteLength;
      });
      req.on("end", () => res.end(String(n)));
      return;
    }
    case "/hold":
      held.add(res);
      res.once("close", () => held.delete(res));
      return;
    case "/held":
      res.end(String(held.size));
      return;
    case "/release": {
      const n = held.size;
      for (const r of held) {
        r.writeHead(200, { connection: "close", "content-length": 2 });
        r.end("ok");
      }
      held.clear();
      res.end(String(n));
      return;
    }
    default:
      res.writeHead(404).end();
  }
});
server.maxRequestsPerSocket = 0;
server.headersTimeout = ROUTE_CAP_MS;
server.requestTimeout = 0;

// The parent holds our stdin: when it goes away, so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));

server.listen({ port: Number(process.argv[2] ?? 0), host: "127.0.0.1", backlog: 4096 }, () => {
  const a = server.address();
  console.log(`listening ${a && typeof a === "object" ? a.port : 0}`);
});
