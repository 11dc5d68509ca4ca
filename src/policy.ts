/**
 * Options and their validation. Everything is checked once, when a fetch is
 * created (or when a per-call override is given), never while a request runs:
 * a NaN slips through `setTimeout` as 0 and through `size > NaN` as "never",
 * so a bad number must not reach the watchdog.
 *
 * @module
 */
import { type BreakerOptions, CircuitBreaker } from "./breaker.ts";
import { type Clock, realClock } from "./clock.ts";
import { type Duration, describe } from "./duration.ts";
import type { TimeboundEventListener } from "./events.ts";
import { isLearned, type Learned, LearnedLimit } from "./learn.ts";
import {
  checkKeys,
  durationOption,
  integerOption,
  optionalFunction,
  plainObject,
  positiveNumber,
} from "./validate.ts";

export { durationOption } from "./validate.ts";

import { chunkSizeFor } from "./model.ts";
import { type ResolvedRetry, type RetryOptions, resolveRetry } from "./retry.ts";
import type { Route } from "./route.ts";

/** A minimum transfer rate: at least `bytes` in every window of length `per`. */
export interface MinRate {
  /** Bytes that must move in every window. */
  bytes: number;
  /** The window. */
  per: Duration;
}

/**
 * The time limits of a request. `false` switches a limit off (useful to
 * override an instance default for one call).
 */
export interface Limits {
  /** Hard deadline for the whole exchange, response body included. @default 30 s */
  total?: Duration | false;
  /**
   * Longest wait for response headers once the request body is handed over;
   * or `{ learn: { floor, ceiling, … } }` to follow each origin's recent
   * times (on `createFetch` only, not per call). @default off
   */
  headers?: Duration | false | Learned;
  /**
   * Longest wait for response bytes while the caller is reading; or
   * `{ learn: { floor, ceiling, … } }` to follow each origin's recent
   * largest read gaps (on `createFetch` only). @default off
   */
  readIdle?: Duration | false | Learned;
  /** Longest gap between two pulls of the request body by the runtime. @default off */
  writeIdle?: Duration | false;
  /** Slowest acceptable transfer, per direction, over a sliding window. @default off */
  minRate?: MinRate | false;
}

/** How request bodies are streamed. */
export interface UploadOptions {
  /** Buffered bodies larger than this many bytes are streamed in chunks. @default 102400 (100 KiB) */
  threshold?: number;
  /**
   * Bytes per chunk handed to the runtime, or `"auto"` to size chunks from
   * `uplinkBitsPerSecond` and `writeIdle` (see `chunkSizeFor`). @default 65536 (64 KiB)
   */
  chunkSize?: number | "auto";
  /** The expected upstream bandwidth, for `chunkSize: "auto"`. */
  uplinkBitsPerSecond?: number;
}

/** Upload progress, reported after each chunk is handed to the runtime. */
export interface UploadProgress {
  /** Bytes handed over so far. */
  bytesSent: number;
  /** The body's size, when known. */
  totalBytes: number | undefined;
}

/** Options of {@linkcode createFetch}. */
export interface TimeboundOptions extends Limits {
  /** Upload streaming. */
  upload?: UploadOptions;
  /** Called after each uploaded chunk. */
  onUploadProgress?: (progress: UploadProgress) => void;
  /** Lifecycle events (calls, attempts, retries, timeouts), after each state change. @default none */
  events?: TimeboundEventListener;
  /** Retries inside the total deadline; off unless given. */
  retry?: RetryOptions | false;
  /** A circuit breaker per origin: a {@linkcode CircuitBreaker} (shareable, inspectable) or its options. @default off */
  breaker?: CircuitBreaker | BreakerOptions | false;
  /** Picks the fetch per request, e.g. by body size. */
  route?: Route;
  /** The fetch to wrap. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The clock for every limit. @default realClock */
  clock?: Clock;
}

/** Limits in milliseconds; `Infinity` means off. */
export interface ResolvedLimits {
  total: number;
  headers: number;
  readIdle: number;
  writeIdle: number;
  minRate: { bytes: number; perMs: number } | undefined;
}

/** Upload settings with defaults applied. */
export interface ResolvedUpload {
  threshold: number;
  chunkSize: number;
  uplinkBitsPerSecond: number | undefined;
}

/** The default total deadline: long enough for ordinary APIs, short enough to bound a stuck call. */
export const DEFAULT_TOTAL_MS = 30_000;
/** Buffered bodies above 100 KiB are streamed (the seed's routing threshold). */
export const DEFAULT_UPLOAD_THRESHOLD = 100 * 1024;
/** 64 KiB: the largest chunk that keeps per-chunk overhead low without hiding stalls. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/**
 * The smallest `upload.chunkSize`: 1 KiB. The model's rule (a chunk crosses
 * the narrowest link in a quarter of writeIdle, see `chunkSizeFor`) asks for
 * 1 KiB at 32 kbit/s with a 1 s writeIdle, about the slowest uplink worth
 * planning for; below that every pull hands the runtime less than a
 * quarter of one TCP segment (1448 B) and per-pull work (a stream read, a
 * watchdog reset, chunked-encoding framing) is paid several times per
 * packet without making stalls any easier to see.
 */
export const MIN_CHUNK_SIZE = 1024;
/** The largest `upload.chunkSize`: 16 MiB (larger chunks only delay stall detection). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** The accepted range of `upload.chunkSize`, as error messages state it. */
export const CHUNK_SIZE_RANGE = `an integer number of bytes in [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}] (${MIN_CHUNK_SIZE / 1024} KiB to ${MAX_CHUNK_SIZE / 1024 / 1024} MiB)`;

const LIMIT_KEYS = ["total", "headers", "readIdle", "writeIdle", "minRate"] as const;
/** Every option of {@linkcode createFetch}, for wrappers that add their own. */
export const OPTION_KEYS: ReadonlySet<string> = new Set<string>([
  ...LIMIT_KEYS,
  "upload",
  "onUploadProgress",
  "events",
  "retry",
  "breaker",
  "route",
  "fetch",
  "clock",
]);

const UPLOAD_KEYS = new Set(["threshold", "chunkSize", "uplinkBitsPerSecond"]);
const MIN_RATE_KEYS = new Set(["bytes", "per"]);
function limit(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === false) return Number.POSITIVE_INFINITY;
  if (isLearned(value)) {
    throw new TypeError(
      name.endsWith("headers") || name.endsWith("readIdle")
        ? `Invalid option '${name}': a learned limit is set on createFetch, not per call`
        : `Invalid option '${name}': only 'headers' and 'readIdle' can be learned (set on createFetch), got { learn }`,
    );
  }
  return durationOption(name, value);
}

function minRateOption(
  name: string,
  value: unknown,
  fallback: ResolvedLimits["minRate"],
): ResolvedLimits["minRate"] {
  if (value === undefined) return fallback;
  if (value === false) return undefined;
  const obj = plainObject(name, value);
  checkKeys(name, obj, MIN_RATE_KEYS);
  return {
    bytes: positiveNumber(`${name}.bytes`, obj.bytes),
    perMs: durationOption(`${name}.per`, obj.per),
  };
}

/** Defaults for every limit: only `total` is on. */
export const DEFAULT_LIMITS: ResolvedLimits = {
  total: DEFAULT_TOTAL_MS,
  headers: Number.POSITIVE_INFINITY,
  readIdle: Number.POSITIVE_INFINITY,
  writeIdle: Number.POSITIVE_INFINITY,
  minRate: undefined,
};

/**
 * Validates limits (`where` prefixes option names in messages, e.g.
 * `"timeouts"`), applying them over `base`.
 */
export function resolveLimits(input: unknown, base: ResolvedLimits, where = ""): ResolvedLimits {
  const obj = plainObject(where || "options", input);
  const p = where ? `${where}.` : "";
  if (where) checkKeys(where, obj, new Set(LIMIT_KEYS));
  return {
    total: limit(`${p}total`, obj.total, base.total),
    headers: limit(`${p}headers`, obj.headers, base.headers),
    readIdle: limit(`${p}readIdle`, obj.readIdle, base.readIdle),
    writeIdle: limit(`${p}writeIdle`, obj.writeIdle, base.writeIdle),
    minRate: minRateOption(`${p}minRate`, obj.minRate, base.minRate),
  };
}

/** Everything {@linkcode createFetch} needs, validated. */
export interface Policy {
  limits: ResolvedLimits;
  upload: ResolvedUpload;
  onUploadProgress: ((progress: UploadProgress) => void) | undefined;
  events: TimeboundEventListener | undefined;
  retry: ResolvedRetry | undefined;
  breaker: CircuitBreaker | undefined;
  route: Route | undefined;
  fetch: typeof fetch | undefined;
  clock: Clock | undefined;
  /** A learned `headers` limit, resolved per call and origin. */
  learnedHeaders: LearnedLimit | undefined;
  /** A learned `readIdle` limit, resolved per call and origin. */
  learnedReadIdle: LearnedLimit | undefined;
}

/**
 * Validates all options of {@linkcode createFetch}.
 *
 * @throws {TypeError} for an unknown key or a wrong type; {@link RangeError} for a value out of range.
 */
export function resolveOptions(options: unknown): Policy {
  const given = plainObject("options", options ?? {});
  checkKeys("", given, OPTION_KEYS);
  // Learned limits are resolved below; the static limits see their initial values.
  const learnHeaders = isLearned(given.headers) ? given.headers : undefined;
  const learnReadIdle = isLearned(given.readIdle) ? given.readIdle : undefined;
  const obj =
    learnHeaders || learnReadIdle
      ? {
          ...given,
          headers: learnHeaders ? undefined : given.headers,
          readIdle: learnReadIdle ? undefined : given.readIdle,
        }
      : given;
  const limits = resolveLimits(obj, DEFAULT_LIMITS);
  const upload = resolveUpload(obj.upload, limits);
  const onUploadProgress = optionalFunction("onUploadProgress", obj.onUploadProgress) as
    | ((progress: UploadProgress) => void)
    | undefined;
  const fetchFn = optionalFunction("fetch", obj.fetch) as typeof fetch | undefined;
  const events = optionalFunction("events", obj.events) as TimeboundEventListener | undefined;
  let clock: Clock | undefined;
  if (obj.clock !== undefined) {
    const c = plainObject("clock", obj.clock);
    for (const m of ["now", "setTimer", "clearTimer"]) {
      if (typeof c[m] !== "function") {
        throw new TypeError(
          `Invalid option 'clock': expected a Clock with now(), setTimer() and clearTimer(), missing ${m}()`,
        );
      }
    }
    clock = obj.clock as Clock;
  }
  const retry = resolveRetry(obj.retry);
  let breaker: CircuitBreaker | undefined;
  if (obj.breaker instanceof CircuitBreaker) breaker = obj.breaker;
  else if (obj.breaker !== undefined && obj.breaker !== false) {
    // The breaker runs on the fetch's clock unless its options name another.
    const b = plainObject("breaker", obj.breaker);
    breaker = new CircuitBreaker({ clock, ...b } as BreakerOptions);
  }
  const route = optionalFunction("route", obj.route) as Route | undefined;
  let learned: LearnedLimit | undefined;
  if (learnHeaders) {
    learned = new LearnedLimit("headers", learnHeaders, clock ?? realClock);
    limits.headers = learned.initial;
  }
  let learnedReadIdle: LearnedLimit | undefined;
  if (learnReadIdle) {
    learnedReadIdle = new LearnedLimit("readIdle", learnReadIdle, clock ?? realClock);
    limits.readIdle = learnedReadIdle.initial;
  }
  return {
    limits,
    upload,
    onUploadProgress,
    events,
    retry,
    breaker,
    route,
    fetch: fetchFn,
    clock,
    learnedHeaders: learned,
    learnedReadIdle,
  };
}

function resolveUpload(input: unknown, limits: ResolvedLimits): ResolvedUpload {
  if (input === undefined) {
    return {
      threshold: DEFAULT_UPLOAD_THRESHOLD,
      chunkSize: DEFAULT_CHUNK_SIZE,
      uplinkBitsPerSecond: undefined,
    };
  }
  const obj = plainObject("upload", input);
  checkKeys("upload", obj, UPLOAD_KEYS);
  const threshold =
    obj.threshold === undefined
      ? DEFAULT_UPLOAD_THRESHOLD
      : integerOption("upload.threshold", obj.threshold, 0, Number.MAX_SAFE_INTEGER);
  const uplink =
    obj.uplinkBitsPerSecond === undefined
      ? undefined
      : positiveNumber("upload.uplinkBitsPerSecond", obj.uplinkBitsPerSecond);
  let chunkSize = DEFAULT_CHUNK_SIZE;
  if (obj.chunkSize === "auto") {
    if (uplink === undefined) {
      throw new TypeError(
        "Invalid option 'upload.chunkSize': \"auto\" needs 'upload.uplinkBitsPerSecond' (the expected upstream bandwidth)",
      );
    }
    // Resolved now, not per request: both inputs are fixed for this instance.
    chunkSize = chunkSizeFor(uplink, limits.writeIdle);
  } else if (obj.chunkSize !== undefined) {
    chunkSize = chunkSizeOption(obj.chunkSize);
  }
  return { threshold, chunkSize, uplinkBitsPerSecond: uplink };
}

function chunkSizeOption(value: unknown): number {
  const ok = typeof value === "number";
  if (!ok || !Number.isInteger(value) || value < MIN_CHUNK_SIZE || value > MAX_CHUNK_SIZE) {
    const E = ok ? RangeError : TypeError;
    throw new E(
      `Invalid option 'upload.chunkSize': expected ${CHUNK_SIZE_RANGE}, or "auto", got ${describe(value)}`,
    );
  }
  return value;
}
