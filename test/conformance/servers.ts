/**
 * Real loopback servers for the conformance suite, run by the orchestrator
 * (Node). Each route is one fault the library must handle. A request carries
 * `?id=…`; `GET /_stats?id=…` tells a client in any runtime what the server
 * saw for that id, `GET /_rec?id=…` what `/rec` recorded of each request
 * (the differential suite), and `GET /_sockets?prefix=…` which of its sockets are
 * still open. Every loop here is bounded in count and in time, and `close()`
 * ends all of it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";

/** What the server saw for one request id. */
export interface IdStats {
  route: string;
  requests: number;
  bytesReceived: number;
  bytesSent: number;
  sha256?: string;
  /** sha256 of each request's body, in arrival order (for replayed bodies). */
  hashes: string[];
  /** When each request arrived, ms after the first request of this id. */
  arrivedMs: number[];
  /** The response was completed by the server. */
  finished: boolean;
  /** The connection went away under an unfinished response (ms after the request arrived). */
  closedAfterMs?: number;
  /** How many responses of this id were left unfinished by a closed connection. */
  cutOff: number;
}

/**
 * What the `/rec` route saw of one request (the differential suite): one
 * entry per arrival of an id, so a followed redirect shows each hop.
 */
export interface RecRecord {
  method: string;
  /** Path and query as sent. */
  path: string;
  httpVersion: string;
  /**
   * Every request header (names lower-cased, sorted; a repeated header's
   * values joined with " | "). A multipart boundary is replaced by
   * `<boundary>`: it is random per request.
   */
  headers: Record<string, string>;
  /** Length of the multipart boundary, when there is one (its value is random). */
  boundaryLength?: number;
  /** The body's multipart delimiter is the boundary of the content type. */
  boundaryMatches?: boolean;
  /** The body arrived to its end (false: the client left mid-body). */
  complete: boolean;
  bodyBytes: number;
  /** sha256 of the body, with a multipart boundary replaced by `<boundary>`. */
  sha256?: string;
}

/** The running servers. */
export interface Servers {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:41234`. */
  http: string;
  /**
   * Base URL of the same routes on a listener that closes every connection
   * after one response (`Connection: close`): no connection is ever reused,
   * so a runtime's own re-send of a request whose reused connection was
   * reset (Deno, Bun, workerd do that) can neither hide nor add attempts.
   */
  fresh: string;
  /** Base URL of a TCP server that accepts and never answers. */
  blackhole: string;
  /** Open sockets, by state, for a diagnostic line. */
  sockets(): { busy: number; idle: number; neverUsed: number; blackhole: number };
  close(): Promise<void>;
}

/** Hard cap on any one streaming route: nothing outlives a stuck client by more. */
const ROUTE_CAP_MS = 30_000;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

interface SocketState {
  /** The id of the last non-control request on this socket. */
  id?: string;
  route?: string;
  busy: boolean;
  control: boolean;
  /** Requests on this socket other than control requests. */
  requests: number;
  /** All requests on this socket, control requests included. */
  served: number;
}

/** Starts both servers on 127.0.0.1 with OS-chosen ports. */
export async function startServers(): Promise<Servers> {
  const stats = new Map<string, IdStats>();
  const recs = new Map<string, RecRecord[]>();
  const firstArrival = new Map<string, number>();
  const sockets = new Map<Socket, SocketState>();
  const holes = new Map<Socket, { id?: string }>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  // Timers that die with the server: everything the routes schedule goes here.
  function later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const h = setTimeout(() => {
      timers.delete(h);
      fn();
    }, ms);
    timers.add(h);
    return h;
  }
  function cancel(h: ReturnType<typeof setTimeout> | undefined): void {
    if (h === undefined) return;
    clearTimeout(h);
    timers.delete(h);
  }

  function statsFor(id: string, route: string): IdStats {
    let s = stats.get(id);
    if (!s) {
      s = {
        route,
        requests: 0,
        bytesReceived: 0,
        bytesSent: 0,
        hashes: [],
        arrivedMs: [],
        finished: false,
        cutOff: 0,
      };
      stats.set(id, s);
    }
    return s;
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = (name: string, dflt: number, max: number): number => {
      const v = Number(url.searchParams.get(name) ?? dflt);
      return Number.isFinite(v) ? Math.min(Math.max(v, 0), max) : dflt;
    };
    const route = url.pathname;
    const sock = sockets.get(req.socket);
    if (sock) sock.served++;
    const control = route.startsWith("/_");
    if (control) {
      serveControl(route, url, res);
      if (sock) sock.control = true;
      res.on("close", () => {
        if (sock) sock.control = false;
      });
      return;
    }
    const id = url.searchParams.get("id") ?? "anonymous";
    if (sock) {
      sock.id = id;
      sock.route = route;
      sock.busy = true;
      sock.requests++;
    }
    const s = statsFor(id, route);
    s.requests++;
    const t0 = performance.now();
    if (!firstArrival.has(id)) firstArrival.set(id, t0);
    s.arrivedMs.push(Math.round(t0 - firstArrival.get(id)!));
    const countOut = (n: number) => {
      s.bytesSent += n;
    };
    res.on("close", () => {
      if (sock) sock.busy = false;
      if (res.writableFinished) return;
      s.closedAfterMs = Math.round(performance.now() - t0);
      s.cutOff++;
    });
    res.on("finish", () => {
      s.finished = true;
    });
    // Every route hashes and counts what it reads; the sinks report it.
    const hash = createHash("sha256");
    req.on("data", (chunk: Buffer) => {
      s.bytesReceived += chunk.length;
      hash.update(chunk);
    });
    req.on("end", () => {
      s.sha256 = hash.digest("hex");
      s.hashes.push(s.sha256);
    });
    req.on("error", () => {}); // a client reset is an expected event here

    switch (route) {
      case "/json": {
        const status = q("status", 200, 599);
        const body = JSON.stringify({ ok: true, id });
        res.writeHead(status, { "content-type": "application/json", "x-conformance": "yes" });
        res.end(body);
        countOut(body.length);
        return;
      }
      case "/trickle":
      case "/never-read": {
        // Headers at once, then one byte every `every` ms, `count` times.
        const every = q("every", 300, 5_000);
        const count = q("count", 100, 200);
        const first = route === "/never-read" ? 1024 : 0;
        res.writeHead(200, { "content-type": "application/octet-stream" });
        if (first) res.write(CHUNK.subarray(0, first));
        else res.flushHeaders();
        countOut(first);
        let sent = 0;
        let h: ReturnType<typeof setTimeout> | undefined;
        const tick = () => {
          if (res.destroyed) return;
          if (sent >= count) return void res.end();
          res.write("x");
          countOut(1);
          sent++;
          h = later(every, tick);
        };
        h = later(every, tick);
        res.on("close", () => cancel(h));
        return;
      }
      case "/slow-headers": {
        const h = later(q("delay", 5_000, ROUTE_CAP_MS), () => {
          if (res.destroyed) return;
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("late");
        });
        res.on("close", () => cancel(h));
        return;
      }
      case "/stall": {
        // Some bytes, then silence until the client leaves or the hold ends.
        const bytes = q("bytes", 64, CHUNK.length);
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(CHUNK.subarray(0, bytes));
        countOut(bytes);
        const h = later(q("hold", 20_000, ROUTE_CAP_MS), () => res.end());
        res.on("close", () => cancel(h));
        return;
      }
      case "/firehose": {
        // As fast as the client takes it, until it leaves or the cap ends it.
        res.writeHead(200, { "content-type": "application/octet-stream" });
        let done = false;
        const stop = later(q("cap", 15_000, ROUTE_CAP_MS), () => {
          done = true;
          res.end();
        });
        const pump = () => {
          while (!done && !res.destroyed) {
            countOut(CHUNK.length);
            if (!res.write(CHUNK)) return void res.once("drain", pump);
          }
        };
        res.on("close", () => {
          done = true;
          cancel(stop);
        });
        pump();
        return;
      }
      case "/reset": {
        // Some bytes, then a TCP reset mid-body.
        const bytes = q("bytes", 1024, CHUNK.length);
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(CHUNK.subarray(0, bytes));
        countOut(bytes);
        const h = later(q("after", 100, 5_000), () => req.socket.resetAndDestroy());
        res.on("close", () => cancel(h));
        return;
      }
      case "/slow-sink": {
        // Reads at `rate` bytes/s for `slow` ms (pausing the request stream),
        // then drains at full speed so the connection ends on its own.
        const rate = Math.max(q("rate", 4096, 1 << 30), 1);
        const slowUntil = t0 + q("slow", 5_000, ROUTE_CAP_MS);
        let h: ReturnType<typeof setTimeout> | undefined;
        req.on("data", (chunk: Buffer) => {
          const left = slowUntil - performance.now();
          if (left <= 0) return;
          req.pause();
          h = later(Math.min((chunk.length / rate) * 1000, left), () => req.resume());
        });
        req.on("end", () => {
          if (res.destroyed) return;
          const body = JSON.stringify({ bytes: s.bytesReceived, sha256: s.sha256 });
          res.writeHead(200, { "content-type": "application/json" }).end(body);
        });
        res.on("close", () => cancel(h));
        return;
      }
      case "/flaky": {
        // Fails the first `k` requests of an id, then answers 200 "ok". Each
        // request's body is read to the end first (its sha256 is in
        // `hashes`). `fail`: 503 or 500 (with `retryAfter` seconds if given),
        // `reset` (TCP reset), `blackhole` (never answers; the client must leave).
        const k = q("k", 1, 1_000);
        const fail = url.searchParams.get("fail") ?? "503";
        const retryAfter = url.searchParams.get("retryAfter");
        const n = s.requests;
        let h: ReturnType<typeof setTimeout> | undefined;
        res.on("close", () => cancel(h));
        req.on("end", () => {
          if (res.destroyed) return;
          if (n > k) {
            res.writeHead(200, { "content-type": "text/plain" }).end("ok");
            countOut(2);
          } else if (fail === "503" || fail === "500") {
            const headers: Record<string, string> = { "content-type": "text/plain" };
            if (retryAfter !== null) headers["retry-after"] = retryAfter;
            res.writeHead(Number(fail), headers).end("failing");
            countOut(7);
          } else if (fail === "reset") {
            req.socket.resetAndDestroy();
          } else {
            h = later(ROUTE_CAP_MS, () => res.destroy());
          }
        });
        return;
      }
      case "/rec": {
        recordRequest(req, id, recs, () => answerRec(url, req, res, countOut));
        return;
      }
      case "/sink": {
        req.on("end", () => {
          const body = JSON.stringify({ bytes: s.bytesReceived, sha256: s.sha256 });
          res.writeHead(200, { "content-type": "application/json" }).end(body);
        });
        return;
      }
      default:
        res.writeHead(404).end();
    }
  };
  const http = createServer({ keepAliveTimeout: 5_000 }, handle);
  const fresh = createServer((req, res) => {
    res.setHeader("connection", "close");
    handle(req, res);
  });

  function serveControl(route: string, url: URL, res: ServerResponse): void {
    const json = (v: unknown) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(v));
    };
    if (route === "/_stats") {
      json(stats.get(url.searchParams.get("id") ?? "") ?? null);
      return;
    }
    if (route === "/_rec") {
      json(recs.get(url.searchParams.get("id") ?? "") ?? []);
      return;
    }
    if (route === "/_sockets") {
      // Sockets that carried a request of this prefix: busy ones are leftovers
      // (a response still running); idle ones are keep-alive, which is fine.
      const prefix = url.searchParams.get("prefix") ?? "";
      const busy: string[] = [];
      let idle = 0;
      for (const st of sockets.values()) {
        if (st.id === undefined || !st.id.startsWith(prefix)) continue;
        if (st.busy && !st.control) busy.push(`${st.route} ${st.id}`);
        else idle++;
      }
      const blackhole = [...holes.values()].filter((h) => h.id?.startsWith(prefix)).length;
      // Sockets that never carried a request cannot be attributed; runtimes run one at a time.
      const neverUsed = [...sockets.values()].filter((st) => st.served === 0).length;
      json({ busy, idle, neverUsed, blackhole });
      return;
    }
    res.writeHead(404).end();
  }

  for (const server of [http, fresh]) {
    server.on("connection", (socket: Socket) => {
      sockets.set(socket, { busy: false, control: false, requests: 0, served: 0 });
      socket.on("close", () => sockets.delete(socket));
    });
    // A client reset mid-request is expected; without this Node logs and closes.
    server.on("clientError", (_err, socket: Socket) => socket.destroy());
  }

  // Accepts, reads (to learn the id) and never answers. Reading changes
  // nothing the client can see: the kernel acknowledges either way.
  const hole: Server = createNetServer((socket) => {
    const st: { id?: string } = {};
    holes.set(socket, st);
    const t0 = performance.now();
    let head = "";
    socket.on("data", (b: Buffer) => {
      if (st.id !== undefined || head.length > 4096) return;
      head += b.toString("latin1");
      const m = /[?&]id=([^&\s]+)/.exec(head);
      if (m) {
        st.id = decodeURIComponent(m[1]!);
        statsFor(st.id, "/blackhole").requests++;
      }
    });
    socket.on("error", () => {});
    const cap = later(ROUTE_CAP_MS, () => socket.destroy());
    socket.on("close", () => {
      cancel(cap);
      holes.delete(socket);
      if (st.id) statsFor(st.id, "/blackhole").closedAfterMs = Math.round(performance.now() - t0);
    });
  });

  await Promise.all([listen(http), listen(fresh), listen(hole)]);
  return {
    http: `http://127.0.0.1:${port(http)}`,
    fresh: `http://127.0.0.1:${port(fresh)}`,
    blackhole: `http://127.0.0.1:${port(hole)}`,
    sockets() {
      let busy = 0;
      let idle = 0;
      let neverUsed = 0;
      for (const st of sockets.values()) {
        if (st.served === 0) neverUsed++;
        else if (st.busy) busy++;
        else idle++;
      }
      return { busy, idle, neverUsed, blackhole: holes.size };
    },
    async close() {
      for (const h of timers) clearTimeout(h);
      timers.clear();
      http.closeAllConnections();
      fresh.closeAllConnections();
      for (const s of holes.keys()) s.destroy();
      await Promise.all([closeServer(http), closeServer(fresh), closeServer(hole)]);
    },
  };
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function port(server: Server): number {
  const a = server.address();
  if (a === null || typeof a === "string") throw new Error("server has no port");
  return a.port;
}

/**
 * Records a request for the differential suite (`/rec`): its method, path,
 * headers and body hash, at arrival, completed when the body ends; then
 * calls `answer` (not called if the client leaves mid-body).
 */
function recordRequest(
  req: IncomingMessage,
  id: string,
  recs: Map<string, RecRecord[]>,
  answer: () => void,
): void {
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    headers[name] = name in headers ? `${headers[name]} | ${value}` : value;
  }
  const boundary = /;\s*boundary="?([^";]+)"?/i.exec(headers["content-type"] ?? "")?.[1];
  if (boundary !== undefined) {
    headers["content-type"] = headers["content-type"]!.replace(boundary, "<boundary>");
  }
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(headers).sort()) sorted[k] = headers[k]!;
  const rec: RecRecord = {
    method: req.method ?? "",
    path: req.url ?? "",
    httpVersion: req.httpVersion,
    headers: sorted,
    ...(boundary !== undefined ? { boundaryLength: boundary.length } : {}),
    complete: false,
    bodyBytes: 0,
  };
  const list = recs.get(id) ?? [];
  recs.set(id, list);
  list.push(rec);
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    rec.bodyBytes += chunk.length;
  });
  req.on("end", () => {
    let body = Buffer.concat(chunks);
    if (boundary !== undefined) {
      // The body's own delimiter (its first line) may not be the header's:
      // undici re-encodes a FormData on a 307/308 with a new boundary.
      let text = body.toString("latin1");
      const own = /^--([^\r\n]+)\r\n/.exec(text)?.[1];
      rec.boundaryMatches = own === boundary;
      if (own !== undefined) text = text.replaceAll(own, "<boundary>");
      body = Buffer.from(text.replaceAll(boundary, "<boundary>"), "latin1");
    }
    rec.sha256 = createHash("sha256").update(body).digest("hex");
    rec.complete = true;
    answer();
  });
}

/** A fixed response body (the same for every id, so runs compare). */
function recBody(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

/**
 * The answer of `/rec`, by query: `redirect=<code>&loc=<url>` answers that
 * redirect; else `status` (200) with `text` (a status text, sent as UTF-8
 * bytes; `enc=latin1` sends it as Latin-1) and `size` body bytes (32).
 * `raw=1` writes the response itself on the socket (`Connection: close`),
 * for what Node's server refuses to send (a status text outside Latin-1).
 * The date is not sent (it would differ between runs).
 */
function answerRec(
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
  countOut: (n: number) => void,
): void {
  if (res.destroyed) return;
  res.sendDate = false;
  const p = url.searchParams;
  const redirect = p.get("redirect");
  if (redirect !== null) {
    const body = "redirecting";
    res.writeHead(Number(redirect), {
      location: p.get("loc") ?? "/",
      "content-type": "text/plain",
      "content-length": body.length,
    });
    res.end(body);
    countOut(body.length);
    return;
  }
  const status = Number(p.get("status") ?? 200);
  const text = p.get("text");
  const size = Math.min(Number(p.get("size") ?? 32), 8 * 1024 * 1024);
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  const body = noBody ? Buffer.alloc(0) : recBody(size);
  const send = req.method === "HEAD" ? Buffer.alloc(0) : body;
  if (p.get("raw") === "1") {
    const reason = Buffer.from(text ?? "", p.get("enc") === "latin1" ? "latin1" : "utf8");
    const head = Buffer.concat([
      Buffer.from(`HTTP/1.1 ${status} `, "latin1"),
      reason,
      Buffer.from(
        "\r\ncontent-type: application/octet-stream\r\nx-diff: raw\r\n" +
          (noBody ? "" : `content-length: ${body.length}\r\n`) +
          "connection: close\r\n\r\n",
        "latin1",
      ),
    ]);
    req.socket.end(Buffer.concat([head, send]));
    countOut(send.length);
    return;
  }
  const headers: Record<string, string | number | string[]> = {
    "content-type": "application/octet-stream",
    "cache-control": "no-store",
    "x-diff": "one",
    "x-dup": ["a", "b"],
    "set-cookie": ["s=1; Path=/", "t=2; Path=/; HttpOnly"],
  };
  if (!noBody) headers["content-length"] = body.length;
  if (text !== null) {
    res.writeHead(status, Buffer.from(text, "utf8").toString("latin1"), headers);
  } else {
    res.writeHead(status, headers);
  }
  res.end(send);
  countOut(send.length);
}
