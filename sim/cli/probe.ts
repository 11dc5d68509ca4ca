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
import type { CurlTimings, ObservedTimeouts, ProposedLimit } from "../observations.ts";
import { formatTime } from "../units.ts";

/** Where a failed probe stopped. */
export type ProbeStage = "dns" | "connect" | "tls" | "send" | "headers" | "body";

/**
 * One probe: curl's `-w` timings in seconds, plus what happened. Only the
 * phases the request reached have a time: a failed probe carries no
 * invented timings for the phases after its failure, and a probe without a
 * body has no `time_posttransfer` (nothing was uploaded).
 */
export interface ProbeSample extends Partial<CurlTimings> {
  time_total: number;
  status?: number;
  bytes: number;
  error?: string;
  /** When `error` is set: the phase it happened in. */
  stage?: ProbeStage;
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

/**
 * The least limit `probe` proposes: 250 ms. Probes of a nearby server see
 * single-digit milliseconds, and twice that is a limit ordinary life trips:
 * a major garbage collection stops a V8 or JVM process for tens to a few
 * hundred milliseconds (on either end), a busy host deschedules a process
 * for as long, and one lost TCP segment waits Linux's minimum
 * retransmission timeout, 200 ms, before it is resent. A limit under these
 * fails healthy requests; 250 ms stays above all three.
 */
export const PROBE_FLOOR_MS = 250;

/**
 * Applies {@linkcode PROBE_FLOOR_MS} to every proposed limit, saying so in
 * its `how` where it raised one.
 */
export function floorProposal(p: ObservedTimeouts): ObservedTimeouts {
  const limits: ObservedTimeouts["limits"] = {};
  const timeouts: Record<string, number> = {};
  let raisedAny = false;
  for (const [k, l] of Object.entries(p.limits) as [
    keyof ObservedTimeouts["limits"],
    ProposedLimit,
  ][]) {
    const raised = l.ms < PROBE_FLOOR_MS;
    raisedAny ||= raised;
    const ms = raised ? PROBE_FLOOR_MS : l.ms;
    limits[k] = raised ? { ...l, ms, how: `${l.how}, floored at ${formatTime(ms)}` } : l;
    timeouts[k] = ms;
  }
  const notes = raisedAny
    ? [
        ...p.notes,
        `limits under ${formatTime(PROBE_FLOOR_MS)} are raised to it: a GC pause, a descheduled process or one lost segment (Linux resends after 200 ms at the least) would trip them on a healthy server`,
      ]
    : p.notes;
  return { ...p, limits, timeouts: timeouts as ObservedTimeouts["timeouts"], notes };
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
    const finish = (error?: Error & { syscall?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const total = s();
      const sample: ProbeSample = { ...marks, time_total: total, bytes };
      if (status !== undefined) sample.status = status;
      if (error !== undefined) {
        sample.error = error.message;
        sample.stage =
          error.syscall === "getaddrinfo"
            ? "dns"
            : marks.time_connect === undefined
              ? "connect"
              : marks.time_pretransfer === undefined
                ? "tls"
                : marks.time_starttransfer === undefined
                  ? options.bodyBytes > 0 && marks.time_posttransfer === undefined
                    ? "send"
                    : "headers"
                  : "body";
      } else {
        // A complete exchange: every phase happened. An IP literal has no
        // lookup (0 s, as curl reports it); a socket that was somehow
        // connected already reports its connect at 0 s too.
        sample.time_namelookup ??= 0;
        sample.time_connect ??= 0;
        sample.time_pretransfer ??= sample.time_appconnect ?? sample.time_connect;
      }
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
      res.on("error", (e) => finish(e));
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
      // Only a body makes an upload phase; for a bodyless request "finish"
      // is the request line and headers, not data a writeIdle could limit.
      if (options.bodyBytes > 0) marks.time_posttransfer = s();
    });
    req.on("error", (e) => finish(e));
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
