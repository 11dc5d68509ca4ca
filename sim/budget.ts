/**
 * The worst case of a timeout configuration, phase by phase: how long can a
 * request with these limits take before it finishes or fails? As in the
 * seed article "a 5 s timeout can take hours" (../shared/seeds/001): DNS
 * runs on the resolver's own timer, connect on the kernel's SYN retries, a
 * read-idle limit applies per fragment (a server sending one byte every
 * 4.9 s never trips a 5 s read timeout), a write-idle limit per chunk, and
 * retries multiply everything. Only a total deadline — or a rate floor over
 * a body of known size — bounds the sum.
 *
 * The same numbers are read under four clients' semantics, so the table
 * shows why the limits people set rarely mean what they think:
 *
 * | config      | timebound                        | got-style (got 14)                      | ky-style (ky 1.14)                    | requests-style (requests/urllib3)        |
 * |-------------|----------------------------------|-----------------------------------------|---------------------------------------|------------------------------------------|
 * | `total`     | one deadline over every attempt, body included | `timeout.request`, re-armed per attempt | `timeout`, per attempt, ends at headers | `timeout=` (no total exists)             |
 * | `headers`   | after the body is handed over    | `timeout.response`                      | —                                     | read timeout (first recv)               |
 * | `readIdle`  | per read, while the caller reads | `timeout.socket` (idle, both ways)      | — (body never timed)                  | read timeout per recv                    |
 * | `writeIdle` | per pull of the body             | `timeout.socket`                        | —                                     | connect timeout per 8 KiB `sendall`     |
 * | `connect`   | — (total covers it)              | `timeout.connect`                       | —                                     | connect timeout                          |
 * | `retries`   | inside the total                 | ETIMEDOUT retried, 2^(n−1) s + ≤100 ms  | timeouts not retried; 0.3 × 2^(n−1) s | urllib3 `Retry`, no backoff by default   |
 *
 * Sources: got's `timed-out.ts` is armed in `_makeRequest`, once per
 * attempt, and `ETIMEDOUT` is in its default `retry.errorCodes`; ky's
 * `timeout()` wraps only the `fetch()` promise of each attempt
 * (`retryOnTimeout: false` by default); urllib3 sets the socket timeout to
 * the connect timeout while sending and to the read timeout before
 * `getresponse()`, and http.client sends bodies in 8192-byte blocks.
 *
 * @module
 */
import { type Duration, describe } from "../src/duration.ts";
import { checkKeys, durationOption, integerOption, plainObject } from "../src/validate.ts";
import { formatSize, formatTime } from "./units.ts";

/** A rate floor: at least `bytes` in every window of `per`. */
export interface BudgetMinRate {
  bytes: number;
  per: Duration;
}

/** Input of {@linkcode budget}: limits as timebound takes them, plus the request and the environment. */
export interface BudgetConfig {
  /**
   * Hard deadline for the whole exchange. `false` or absent: none. (A
   * `createFetch` without `total` has one, `DEFAULT_TOTAL_MS` from
   * src/policy.ts; `timebound budget` passes it when `--total` is not given.)
   */
  total?: Duration | false;
  /** Wait for response headers once the body is handed over. */
  headers?: Duration | false;
  /** Longest gap between response reads. */
  readIdle?: Duration | false;
  /** Longest gap between pulls of the request body. */
  writeIdle?: Duration | false;
  /** Slowest acceptable transfer, per direction. */
  minRate?: BudgetMinRate | false;
  /** A connect limit, for clients that have one (got, requests); timebound's total covers connect. */
  connect?: Duration | false;
  /** Retries after the first attempt. @default 0 */
  retries?: number;
  /** timebound's backoff: full jitter up to min(cap, base × 2^(n−1)); the worst case is the ceiling. @default { base: "100ms", cap: "5s" } */
  backoff?: { base?: Duration; cap?: Duration };
  /** Request body size in bytes. @default 0 */
  payloadBytes?: number;
  /** Bytes per upload chunk (timebound's pull size; Node streams hand over 64 KiB). @default 65536 */
  chunkBytes?: number;
  /** Response body size in bytes; absent means unknown, so unbounded. */
  responseBytes?: number;
  /** How long the system resolver tries before giving up (20 s measured for systemd-resolved in the seed article). @default 20000 */
  dnsMs?: number;
  /** Linux `net.ipv4.tcp_syn_retries`: SYNs are resent after 1, 2, 4, … s, so 6 retries give up after 127 s. @default 6 */
  synRetries?: number;
}

/** The phases of a budget, in the order they happen. */
export type BudgetPhase = "dns" | "connect" | "upload" | "headers" | "body" | "retries";

/** One phase's worst case under one client's semantics. */
export interface BudgetRow {
  phase: BudgetPhase;
  /** Worst-case milliseconds; `Infinity` when nothing bounds the phase. */
  ms: number;
  /** How the figure comes about, in words. */
  how: string;
}

/** Which client's semantics a column applies. */
export type BudgetSemantics = "timebound" | "got" | "ky" | "requests";

/** The budget under one client's semantics. */
export interface BudgetColumn {
  semantics: BudgetSemantics;
  /** How the config's limits map onto this client's options. */
  mapping: string;
  rows: BudgetRow[];
  /** The worst case of the whole request: `Infinity` unless something caps it. */
  boundMs: number;
  /** What caps the bound: a deadline, or the phases' own limits; `undefined` when unbounded. */
  cappedBy: string | undefined;
}

/** Output of {@linkcode budget}. */
export interface BudgetResult {
  /** timebound first, then got-, ky- and requests-style. */
  columns: BudgetColumn[];
}

const KEYS = new Set([
  "total",
  "headers",
  "readIdle",
  "writeIdle",
  "minRate",
  "connect",
  "retries",
  "backoff",
  "payloadBytes",
  "chunkBytes",
  "responseBytes",
  "dnsMs",
  "synRetries",
]);
/** http.client's `blocksize`: requests hands the body to `sendall` 8 KiB at a time. */
const REQUESTS_BLOCK_BYTES = 8192;
/** got's default `retry.noise`: up to 100 ms added to each backoff. */
const GOT_NOISE_MS = 100;

interface Resolved {
  total: number;
  headers: number;
  readIdle: number;
  writeIdle: number;
  minRate: { bytes: number; perMs: number } | undefined;
  connect: number;
  retries: number;
  baseMs: number;
  capMs: number;
  payloadBytes: number;
  chunkBytes: number;
  responseBytes: number | undefined;
  dnsMs: number;
  synMs: number;
}

function limit(name: string, v: unknown): number {
  if (v === undefined || v === false) return Infinity;
  return durationOption(name, v);
}

function bytesOption(name: string, v: unknown, fallback: number | undefined, min: number) {
  if (v === undefined) return fallback;
  return integerOption(name, v, min, Number.MAX_SAFE_INTEGER);
}

function resolve(config: BudgetConfig): Resolved {
  const o = plainObject("config", config);
  checkKeys("", o, KEYS);
  let minRate: Resolved["minRate"];
  if (o.minRate !== undefined && o.minRate !== false) {
    const m = plainObject("minRate", o.minRate);
    checkKeys("minRate", m, new Set(["bytes", "per"]));
    minRate = {
      bytes: integerOption("minRate.bytes", m.bytes, 1, Number.MAX_SAFE_INTEGER),
      perMs: durationOption("minRate.per", m.per),
    };
  }
  let baseMs = 100;
  let capMs = 5000;
  if (o.backoff !== undefined) {
    const b = plainObject("backoff", o.backoff);
    checkKeys("backoff", b, new Set(["base", "cap"]));
    if (b.base !== undefined) baseMs = durationOption("backoff.base", b.base);
    if (b.cap !== undefined) capMs = durationOption("backoff.cap", b.cap);
  }
  const synRetries = bytesOption("synRetries", o.synRetries, 6, 0)!;
  if (synRetries > 30) {
    throw new RangeError(
      `Invalid option 'synRetries': expected an integer in [0, 30], got ${describe(synRetries)}`,
    );
  }
  const dnsMs = o.dnsMs === undefined ? 20_000 : durationOption("dnsMs", o.dnsMs);
  return {
    total: limit("total", o.total),
    headers: limit("headers", o.headers),
    readIdle: limit("readIdle", o.readIdle),
    writeIdle: limit("writeIdle", o.writeIdle),
    minRate,
    connect: limit("connect", o.connect),
    retries: bytesOption("retries", o.retries, 0, 0)!,
    baseMs,
    capMs,
    payloadBytes: bytesOption("payloadBytes", o.payloadBytes, 0, 0)!,
    chunkBytes: bytesOption("chunkBytes", o.chunkBytes, 65_536, 1)!,
    responseBytes: bytesOption("responseBytes", o.responseBytes, undefined, 0),
    dnsMs,
    // The initial SYN RTO is 1 s (RFC 6298 §2.1) and doubles per retry; the
    // kernel gives up one doubled RTO after the last retry: 2^(n+1) − 1 s.
    synMs: (2 ** (synRetries + 1) - 1) * 1000,
  };
}

/** Worst time to move `bytes` when each of `pieces` may take up to `idleMs`. */
function perPiece(idleMs: number, bytes: number, pieceBytes: number): number {
  if (bytes === 0) return 0;
  return idleMs * Math.ceil(bytes / pieceBytes);
}

/**
 * Worst time to move `bytes` under a rate floor of `bytes` per window: each
 * window moves at least its share, so ceil(bytes / floor) windows.
 */
function underRate(rate: Resolved["minRate"], bytes: number): number {
  if (!rate) return Infinity;
  return Math.ceil(bytes / rate.bytes) * rate.perMs;
}

const t = formatTime;

function sum(rows: BudgetRow[]): number {
  return rows.reduce((s, r) => s + r.ms, 0);
}

function timebound(c: Resolved): BudgetColumn {
  const rows: BudgetRow[] = [];
  rows.push({
    phase: "dns",
    ms: c.dnsMs,
    how: `resolver gives up after ${t(c.dnsMs)}; fetch cannot shorten it`,
  });
  rows.push({
    phase: "connect",
    ms: c.synMs,
    how: `kernel SYN retries (${t(c.synMs)}); no connect limit of its own`,
  });
  const chunks = Math.ceil(c.payloadBytes / c.chunkBytes);
  const byIdle = perPiece(c.writeIdle, c.payloadBytes, c.chunkBytes);
  const byRate = c.payloadBytes === 0 ? 0 : underRate(c.minRate, c.payloadBytes);
  const upload = Math.min(byIdle, byRate);
  rows.push({
    phase: "upload",
    ms: upload,
    how:
      c.payloadBytes === 0
        ? "no body"
        : upload === Infinity
          ? "∞: no writeIdle or minRate; a server that stops reading stalls it"
          : byRate <= byIdle
            ? `minRate: ${formatSize(c.payloadBytes)} at ≥ ${c.minRate!.bytes} B per ${t(c.minRate!.perMs)}`
            : `writeIdle ${t(c.writeIdle)} × ${chunks} chunks of ${formatSize(c.chunkBytes)}`,
  });
  rows.push({
    phase: "headers",
    ms: c.headers,
    how: c.headers === Infinity ? "∞: no headers limit" : `headers limit ${t(c.headers)}`,
  });
  rows.push(bodyRow(c, c.readIdle, c.minRate, "readIdle"));
  const attempt = rows[1]!.ms + rows[2]!.ms + rows[3]!.ms;
  let backoff = 0;
  for (let n = 1; n <= c.retries; n++) backoff += Math.min(c.capMs, c.baseMs * 2 ** (n - 1));
  const retries = c.retries === 0 ? 0 : c.retries * attempt + backoff;
  rows.push({
    phase: "retries",
    ms: retries,
    how:
      c.retries === 0
        ? "none"
        : `${c.retries} × (connect + upload + headers) + backoff ≤ ${t(backoff)}; all inside total`,
  });
  const phases = sum(rows);
  const bound = Math.min(phases, c.total);
  return {
    semantics: "timebound",
    mapping: "total covers every attempt and the body; headers starts after the upload",
    rows,
    boundMs: bound,
    cappedBy:
      bound === Infinity
        ? undefined
        : c.total <= phases
          ? `total ${t(c.total)}`
          : "the phase limits",
  };
}

function bodyRow(
  c: Resolved,
  idleMs: number,
  rate: Resolved["minRate"],
  idleName: string,
  fragmentBytes = 1,
): BudgetRow {
  const r = c.responseBytes;
  if (r === 0) return { phase: "body", ms: 0, how: "no body" };
  if (r === undefined) {
    return {
      phase: "body",
      ms: Infinity,
      how: "∞: response size unknown; a server can trickle forever without tripping an idle limit or rate floor",
    };
  }
  const byIdle = perPiece(idleMs, r, fragmentBytes);
  const byRate = underRate(rate, r);
  const ms = Math.min(byIdle, byRate);
  return {
    phase: "body",
    ms,
    how:
      ms === Infinity
        ? `∞: no ${idleName} limit`
        : byRate <= byIdle
          ? `minRate: ${formatSize(r)} at ≥ ${rate!.bytes} B per ${t(rate!.perMs)}`
          : `${idleName} ${t(idleMs)} × ${Math.ceil(r / fragmentBytes)} fragments of ${fragmentBytes} B (the seed's one-byte trickle)`,
  };
}

function got(c: Resolved): BudgetColumn {
  // got's socket timeout is one idle limit for both directions.
  const socket = Math.min(c.readIdle, c.writeIdle);
  const request = c.total;
  const rows: BudgetRow[] = [];
  rows.push({ phase: "dns", ms: c.dnsMs, how: `resolver's ${t(c.dnsMs)} (timeout.lookup unset)` });
  const connect = Math.min(c.connect, c.synMs);
  rows.push({
    phase: "connect",
    ms: connect,
    how:
      c.connect < c.synMs
        ? `timeout.connect ${t(c.connect)}`
        : `kernel SYN retries (${t(c.synMs)})`,
  });
  const upload = perPiece(socket, c.payloadBytes, c.chunkBytes);
  rows.push({
    phase: "upload",
    ms: upload,
    how:
      c.payloadBytes === 0
        ? "no body"
        : upload === Infinity
          ? "∞: no timeout.socket or timeout.send"
          : `timeout.socket ${t(socket)} × ${Math.ceil(c.payloadBytes / c.chunkBytes)} writes`,
  });
  rows.push({
    phase: "headers",
    ms: c.headers,
    how: c.headers === Infinity ? "∞: no timeout.response" : `timeout.response ${t(c.headers)}`,
  });
  rows.push(bodyRow(c, socket, undefined, "timeout.socket"));
  // timeout.request is re-armed for every attempt (timed-out.ts runs in _makeRequest).
  const attemptPhases = sum(rows.slice(1, 4));
  const first = Math.min(request, sum(rows));
  const attempt = Math.min(request, attemptPhases);
  let backoff = 0;
  for (let n = 1; n <= c.retries; n++) backoff += 2 ** (n - 1) * 1000 + GOT_NOISE_MS;
  const retries = c.retries === 0 ? 0 : c.retries * attempt + backoff;
  rows.push({
    phase: "retries",
    ms: retries,
    how:
      c.retries === 0
        ? "none"
        : `${c.retries} × attempt (${t(attempt)}, timeout.request re-armed each time) + backoff ${t(backoff)}`,
  });
  const bound = first + retries;
  return {
    semantics: "got",
    mapping:
      "total → timeout.request (per attempt), headers → timeout.response, min(readIdle, writeIdle) → timeout.socket",
    rows,
    boundMs: bound,
    cappedBy:
      bound === Infinity
        ? undefined
        : request !== Infinity
          ? `timeout.request ${t(request)} per attempt × ${c.retries + 1}`
          : "the phase limits",
  };
}

function ky(c: Resolved): BudgetColumn {
  const timeout = c.total;
  const rows: BudgetRow[] = [];
  rows.push({ phase: "dns", ms: c.dnsMs, how: `resolver's ${t(c.dnsMs)}` });
  rows.push({ phase: "connect", ms: c.synMs, how: `kernel SYN retries (${t(c.synMs)})` });
  rows.push({
    phase: "upload",
    ms: c.payloadBytes === 0 ? 0 : Infinity,
    how: c.payloadBytes === 0 ? "no body" : "∞: no upload limit (only the per-attempt timeout)",
  });
  rows.push({
    phase: "headers",
    ms: Infinity,
    how: "∞: no headers limit (only the per-attempt timeout)",
  });
  rows.push({
    phase: "body",
    ms: c.responseBytes === 0 ? 0 : Infinity,
    how:
      c.responseBytes === 0
        ? "no body"
        : "∞: the timeout ends when fetch() resolves; reading the body is never timed",
  });
  const preBody = Math.min(timeout, sum(rows.slice(0, 4)));
  const attempt = Math.min(timeout, sum(rows.slice(1, 4)));
  let backoff = 0;
  for (let n = 1; n <= c.retries; n++) backoff += 0.3 * 2 ** (n - 1) * 1000;
  // Timeouts are not retried (retryOnTimeout: false), but an attempt that
  // fails just before its timeout with a 503 or a reset is.
  const retries = c.retries === 0 ? 0 : c.retries * attempt + backoff;
  rows.push({
    phase: "retries",
    ms: retries,
    how:
      c.retries === 0
        ? "none"
        : `${c.retries} × attempt (${t(attempt)}, timeout re-armed each time) + backoff ${t(backoff)}`,
  });
  const body = rows[4]!.ms;
  const bound = preBody + retries + body;
  return {
    semantics: "ky",
    mapping: "total → timeout (per attempt, until headers only); no idle limits",
    rows,
    boundMs: bound,
    cappedBy:
      bound === Infinity ? undefined : `timeout ${t(timeout)} per attempt × ${c.retries + 1}`,
  };
}

function requests(c: Resolved): BudgetColumn {
  // What someone wanting these limits writes: timeout=(connect, read).
  const connectT = c.connect !== Infinity ? c.connect : c.total;
  const readT = [c.readIdle, c.headers, c.total].find((x) => x !== Infinity) ?? Infinity;
  const rows: BudgetRow[] = [];
  rows.push({
    phase: "dns",
    ms: c.dnsMs,
    how: `resolver's ${t(c.dnsMs)}; requests never times DNS`,
  });
  const connect = Math.min(connectT, c.synMs);
  rows.push({
    phase: "connect",
    ms: connect,
    how:
      connectT < c.synMs ? `connect timeout ${t(connectT)}` : `kernel SYN retries (${t(c.synMs)})`,
  });
  const upload = perPiece(connectT, c.payloadBytes, REQUESTS_BLOCK_BYTES);
  rows.push({
    phase: "upload",
    ms: upload,
    how:
      c.payloadBytes === 0
        ? "no body"
        : upload === Infinity
          ? "∞: no timeout while sending"
          : `connect timeout ${t(connectT)} × ${Math.ceil(c.payloadBytes / REQUESTS_BLOCK_BYTES)} sendall blocks of 8 KiB`,
  });
  rows.push({
    phase: "headers",
    ms: readT,
    how: readT === Infinity ? "∞: no read timeout" : `read timeout ${t(readT)} (first recv)`,
  });
  rows.push(bodyRow(c, readT, undefined, "read timeout"));
  const attempt = sum(rows.slice(1, 4));
  const retries = c.retries === 0 ? 0 : c.retries * attempt; // 0 × ∞ would be NaN
  rows.push({
    phase: "retries",
    ms: retries,
    how:
      c.retries === 0
        ? "none (max_retries=0)"
        : `${c.retries} × attempt (${t(attempt)}); urllib3 Retry, backoff_factor 0`,
  });
  const bound = sum(rows);
  return {
    semantics: "requests",
    mapping: `timeout=(${connectT === Infinity ? "None" : connectT / 1000}, ${readT === Infinity ? "None" : readT / 1000}): connect and read, nothing total`,
    rows,
    boundMs: bound,
    cappedBy: bound === Infinity ? undefined : "the per-call timeouts (no total exists)",
  };
}

/**
 * The worst-case duration of a request under a timeout configuration, phase
 * by phase (DNS, connect, upload, headers, body, retries), read under
 * timebound's semantics and, for comparison, got-, ky- and requests-style
 * semantics. Each column's `boundMs` is `Infinity` unless something caps it:
 * a total deadline, or every phase's own limit (a rate floor or idle limit
 * over a body of known size).
 *
 * "Worst case" means an adversarial but live network: a resolver that runs
 * to its timeout, SYNs lost until the kernel gives up, a server that
 * accepts or sends one piece just before each idle limit, retries that each
 * fail as late as they can.
 *
 * @param config Limits (durations as ms or strings), request sizes and environment.
 * @returns One column per client semantics.
 * @throws {TypeError} For an unknown option or a wrong type; {@link RangeError} for a bad value.
 *
 * @example
 * ```ts
 * import { budget } from "timebound/sim";
 * // The seed's requests.get(url, timeout=5) against a trickling server:
 * const [tb, got, ky, requests] = budget({ readIdle: "5s", connect: "5s", responseBytes: 10_240 }).columns;
 * console.assert(tb.boundMs === Infinity); // nothing caps it: no total, no headers limit
 * console.assert(requests.boundMs > 11 * 3_600_000); // 10 KiB one byte per 5 s: over 14 h
 * // A total deadline caps timebound, whatever the server does:
 * const capped = budget({ total: "5s", retries: 2 }).columns;
 * console.assert(capped[0].boundMs === 5000 && capped[0].cappedBy === "total 5 s");
 * console.assert(capped[1].boundMs === 3 * 5000 + 1100 + 2100); // got: per attempt, plus backoff
 * ```
 */
export function budget(config: BudgetConfig): BudgetResult {
  const c = resolve(config);
  return { columns: [timebound(c), got(c), ky(c), requests(c)] };
}
