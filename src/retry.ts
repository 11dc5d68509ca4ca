/**
 * Retries that never outlive the deadline: which requests are safe to
 * repeat, how long to wait (capped exponential backoff with full jitter,
 * `Retry-After` honoured), and a per-origin retry budget that keeps a failing
 * dependency from receiving a retry storm.
 *
 * @module
 */
import { type Duration, describe } from "./duration.ts";
import { durationOption } from "./validate.ts";

/** Retry settings of {@linkcode createFetch}. */
export interface RetryOptions {
  /** Retries after the first attempt (as in ky and got). @default 2 when `retry` is given */
  limit?: number;
  /** Methods safe to repeat; any method carrying `Idempotency-Key` is too. @default GET, HEAD, OPTIONS, PUT, DELETE, TRACE */
  methods?: string[];
  /** Response statuses that are retried. @default 408, 429, 500, 502, 503, 504 */
  statusCodes?: number[];
  /** Backoff before retry n: uniform in [0, min(cap, base × 2^(n−1))] ("full jitter"). @default { base: "100ms", cap: "5s" } */
  backoff?: { base?: Duration; cap?: Duration };
  /** A `Retry-After` longer than this is not waited for: the response is returned. @default "60s" */
  maxRetryAfter?: Duration;
  /**
   * Per-origin retry budget, as Envoy's: retries in flight may be at most
   * `ratio` of the requests in flight to that origin, but at least
   * `minRetries`. `false` disables it. A {@linkcode RetryBudget} is used as
   * it is: share one between several fetches, and read its `snapshot()`.
   * @default { ratio: 0.2, minRetries: 3 }
   */
  budget?: { ratio?: number; minRetries?: number } | RetryBudget | false;
  /** Uniform random numbers in [0, 1) for jitter (inject a seeded PRNG for reproducible runs). @default Math.random */
  random?: () => number;
}

/** Retry settings, validated. */
export interface ResolvedRetry {
  limit: number;
  methods: Set<string>;
  statusCodes: Set<number>;
  baseMs: number;
  capMs: number;
  maxRetryAfterMs: number;
  budget: { ratio: number; minRetries: number } | RetryBudget | undefined;
  random: () => number;
}

const KEYS = new Set([
  "limit",
  "methods",
  "statusCodes",
  "backoff",
  "maxRetryAfter",
  "budget",
  "random",
]);
export const DEFAULT_RETRY_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"];
export const DEFAULT_RETRY_STATUS = [408, 429, 500, 502, 503, 504];
/** A retry limit above this is a bug (a retry loop), not a policy. */
const MAX_LIMIT = 100;

function fail(kind: "type" | "range", name: string, expected: string, value: unknown): never {
  const E = kind === "type" ? TypeError : RangeError;
  throw new E(`Invalid option 'retry.${name}': expected ${expected}, got ${describe(value)}`);
}

/**
 * Validates `retry` options.
 *
 * @throws {TypeError} for an unknown key or a wrong type; {@link RangeError} for a value out of range.
 */
export function resolveRetry(input: unknown): ResolvedRetry | undefined {
  if (input === undefined || input === false) return undefined;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TypeError(
      `Invalid option 'retry': expected an object or false, got ${describe(input)}`,
    );
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k))
      throw new TypeError(`Unknown option 'retry.${k}': expected one of ${[...KEYS].join(", ")}`);
  }
  let limit = 2;
  if (o.limit !== undefined) {
    if (typeof o.limit !== "number")
      fail("type", "limit", `an integer in [0, ${MAX_LIMIT}]`, o.limit);
    if (!Number.isInteger(o.limit) || o.limit < 0 || o.limit > MAX_LIMIT) {
      fail("range", "limit", `an integer in [0, ${MAX_LIMIT}]`, o.limit);
    }
    limit = o.limit;
  }
  let methods = DEFAULT_RETRY_METHODS;
  if (o.methods !== undefined) {
    if (!Array.isArray(o.methods) || !o.methods.every((m) => typeof m === "string")) {
      fail("type", "methods", "an array of method names", o.methods);
    }
    methods = (o.methods as string[]).map((m) => m.toUpperCase());
  }
  let statusCodes = DEFAULT_RETRY_STATUS;
  if (o.statusCodes !== undefined) {
    const ok =
      Array.isArray(o.statusCodes) &&
      o.statusCodes.every(
        (s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599,
      );
    if (!ok) fail("type", "statusCodes", "an array of status codes in [100, 599]", o.statusCodes);
    statusCodes = o.statusCodes as number[];
  }
  let baseMs = 100;
  let capMs = 5_000;
  if (o.backoff !== undefined) {
    if (typeof o.backoff !== "object" || o.backoff === null)
      fail("type", "backoff", "an object", o.backoff);
    const b = o.backoff as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (k !== "base" && k !== "cap")
        throw new TypeError(`Unknown option 'retry.backoff.${k}': expected one of base, cap`);
    }
    if (b.base !== undefined) baseMs = durationOption("retry.backoff.base", b.base);
    if (b.cap !== undefined) capMs = durationOption("retry.backoff.cap", b.cap);
  }
  const maxRetryAfterMs =
    o.maxRetryAfter === undefined ? 60_000 : durationOption("retry.maxRetryAfter", o.maxRetryAfter);
  let budget: ResolvedRetry["budget"] = { ratio: 0.2, minRetries: 3 };
  if (o.budget === false) budget = undefined;
  else if (o.budget instanceof RetryBudget) budget = o.budget;
  else if (o.budget !== undefined) {
    if (typeof o.budget !== "object" || o.budget === null)
      fail("type", "budget", "an object or false", o.budget);
    const b = o.budget as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (k !== "ratio" && k !== "minRetries") {
        throw new TypeError(
          `Unknown option 'retry.budget.${k}': expected one of ratio, minRetries`,
        );
      }
    }
    if (b.ratio !== undefined) {
      if (typeof b.ratio !== "number") fail("type", "budget.ratio", "a number in [0, 1]", b.ratio);
      if (!(b.ratio >= 0 && b.ratio <= 1))
        fail("range", "budget.ratio", "a number in [0, 1]", b.ratio);
      budget.ratio = b.ratio;
    }
    if (b.minRetries !== undefined) {
      if (typeof b.minRetries !== "number")
        fail("type", "budget.minRetries", "an integer ≥ 0", b.minRetries);
      if (!Number.isInteger(b.minRetries) || b.minRetries < 0) {
        fail("range", "budget.minRetries", "an integer ≥ 0", b.minRetries);
      }
      budget.minRetries = b.minRetries;
    }
  }
  if (o.random !== undefined && typeof o.random !== "function")
    fail("type", "random", "a function", o.random);
  return {
    limit,
    methods: new Set(methods),
    statusCodes: new Set(statusCodes),
    baseMs,
    capMs,
    maxRetryAfterMs,
    budget,
    random: (o.random as (() => number) | undefined) ?? Math.random,
  };
}

/** Whether a request may be repeated: a safe method, or an `Idempotency-Key`. */
export function isIdempotent(
  retry: ResolvedRetry,
  method: string,
  headers: Headers | undefined,
): boolean {
  return retry.methods.has(method) || headers?.has("idempotency-key") === true;
}

/** Backoff before retry number `retry` (1 for the first retry): full jitter. */
export function backoffMs(policy: ResolvedRetry, retry: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** (retry - 1));
  return policy.random() * ceiling;
}

/** IMF-fixdate (RFC 9110 §5.6.7), the only date form a sender may generate. */
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * The wait a response asks for in `Retry-After` (RFC 9110 §10.2.3):
 * delta-seconds, or an IMF-fixdate measured against the response's own
 * `Date` header (so the server's clock is compared with itself, and no wall
 * clock is read here). `undefined` when absent or not one of those two forms:
 * `Date.parse` alone reads `"1.5"`, `"-1"` or `"5, 5"` as dates in 2001, which
 * would mean "retry now".
 */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!IMF_FIXDATE.test(text)) return undefined;
  const date = headers.get("date")?.trim();
  if (date === undefined || !IMF_FIXDATE.test(date)) return undefined;
  const at = Date.parse(text);
  const now = Date.parse(date);
  if (Number.isNaN(at) || Number.isNaN(now)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Envoy's retry budget, per origin: retries in flight may be at most
 * `ratio` × requests in flight, but at least `minRetries`. Under a sustained
 * failure this caps the extra load retries add, where a fixed retry count
 * would multiply it.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly minRetries: number;
  private readonly byOrigin = new Map<string, { requests: number; retries: number }>();

  constructor(budget: { ratio: number; minRetries: number }) {
    this.ratio = budget.ratio;
    this.minRetries = budget.minRetries;
  }

  /** A request to `origin` starts. */
  begin(origin: string): void {
    const e = this.byOrigin.get(origin);
    if (e) e.requests++;
    else this.byOrigin.set(origin, { requests: 1, retries: 0 });
  }

  /** A request to `origin` ends (after all its attempts). */
  end(origin: string): void {
    const e = this.byOrigin.get(origin);
    if (!e) return;
    e.requests--;
    if (e.requests <= 0 && e.retries <= 0) this.byOrigin.delete(origin);
  }

  /** Takes a retry slot if the budget allows; pair with {@linkcode RetryBudget.release}. */
  tryAcquire(origin: string): boolean {
    const e = this.byOrigin.get(origin);
    if (!e) return false;
    if (e.retries >= Math.max(this.minRetries, this.ratio * e.requests)) return false;
    e.retries++;
    return true;
  }

  /** A retry attempt ended. */
  release(origin: string): void {
    const e = this.byOrigin.get(origin);
    if (e) e.retries--;
  }

  /** Requests and retries in flight per origin (for metrics). */
  snapshot(): Array<{ origin: string; requests: number; retries: number }> {
    return [...this.byOrigin].map(([origin, e]) => ({ origin, ...e }));
  }
}
