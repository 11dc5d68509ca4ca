/**
 * `timebound probe`: sends the same request several times on fresh
 * connections and records curl-like phase timings (the `time_*` variables
 * of `curl -w`), from the socket's own events: `lookup` (DNS), `connect`,
 * `secureConnect` (TLS), the request's `finish` (body handed to the kernel),
 * the `response` (first byte of the headers) and the body's `end`.
 *
 * Node's `http` module rather than fetch: fetch does not expose DNS,
 * connect and TLS times.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import type { CurlTimings } from "../observations.ts";

/** One probe: curl's `-w` timings in seconds, plus what happened. */
export interface ProbeSample extends CurlTimings {
  status?: number;
  bytes: number;
  error?: string;
}

/** Options of {@linkcode probeOnce}. */
export interface ProbeOptions {
  method: string;
  /** A request body of this many bytes (zeros), or none. */
  bodyBytes: number;
  /** Give up after this long (the probe's own deadline). */
  timeoutMs: number;
  headers: Record<string, string>;
}

/** Sends one request on a new connection and times its phases. */
export function probeOnce(url: URL, options: ProbeOptions): Promise<ProbeSample> {
  const mod = url.protocol === "https:" ? https : http;
  const t0 = performance.now();
  const s = (): number => (performance.now() - t0) / 1000;
  const marks: Partial<Record<keyof CurlTimings, number>> = {};
  let bytes = 0;
  let status: number | undefined;
  return new Promise((resolve) => {
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const total = s();
      const connect = marks.time_connect ?? total;
      const pre = marks.time_pretransfer ?? marks.time_appconnect ?? connect;
      const sample: ProbeSample = {
        time_namelookup: marks.time_namelookup ?? 0,
        time_connect: connect,
        time_pretransfer: pre,
        time_posttransfer: marks.time_posttransfer ?? pre,
        time_starttransfer: marks.time_starttransfer ?? total,
        time_total: total,
        bytes,
      };
      if (marks.time_appconnect !== undefined) sample.time_appconnect = marks.time_appconnect;
      if (status !== undefined) sample.status = status;
      if (error !== undefined) sample.error = error;
      resolve(sample);
    };
    const headers: Record<string, string> = { ...options.headers };
    if (options.bodyBytes > 0) headers["content-length"] = String(options.bodyBytes);
    // agent: false: a new connection per probe, so DNS and connect are measured every time.
    const req = mod.request(url, { method: options.method, agent: false, headers }, (res) => {
      marks.time_starttransfer = s();
      status = res.statusCode;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on("end", () => finish());
      res.on("error", (e) => finish(e.message));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on("socket", (socket) => {
      socket.on("lookup", () => {
        marks.time_namelookup = s();
      });
      socket.on("connect", () => {
        marks.time_connect = s();
        if (url.protocol !== "https:") marks.time_pretransfer = marks.time_connect;
      });
      socket.on("secureConnect", () => {
        marks.time_appconnect = s();
        marks.time_pretransfer = marks.time_appconnect;
      });
    });
    req.on("finish", () => {
      marks.time_posttransfer = s();
    });
    req.on("error", (e) => finish(e.message));
    if (options.bodyBytes > 0) {
      // Written in 64 KiB pieces, honouring backpressure, like a streamed upload.
      const piece = Buffer.alloc(Math.min(65_536, options.bodyBytes));
      let left = options.bodyBytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          const more = req.write(n === piece.length ? piece : piece.subarray(0, n));
          if (!more && left > 0) {
            req.once("drain", pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else {
      req.end();
    }
  });
}
