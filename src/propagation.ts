/**
 * Deadline propagation on the wire: reading the budget a caller sent with an
 * inbound request, and writing what is left of it onto outbound requests.
 *
 * Inbound budgets are untrusted input. They can only shrink a deadline, are
 * parsed strictly (a malformed, repeated or absurd value is ignored, never
 * guessed at), and never reach a timer unchecked.
 *
 * @module
 */
import { type Duration, describe, MAX_TIMER_MS } from "./duration.ts";
import { durationOption } from "./policy.ts";

/** gRPC's deadline header (gRPC over HTTP/2 spec, "Requests": `Timeout → 1*8DIGIT TimeoutUnit`). */
export const GRPC_TIMEOUT = "grpc-timeout";
/** Envoy's header carrying the route timeout it will enforce, in integer milliseconds. */
export const ENVOY_TIMEOUT = "x-envoy-expected-rq-timeout-ms";
/** timebound's own budget header: integer milliseconds left. */
export const BUDGET_HEADER = "timebound-budget-ms";
/** Inbound headers read by default, in this order. */
export const DEFAULT_BUDGET_HEADERS: readonly string[] = [
  GRPC_TIMEOUT,
  ENVOY_TIMEOUT,
  BUDGET_HEADER,
];
/**
 * Subtracted from the budget sent downstream: the downstream service must
 * give up, and its answer travel back, before our own deadline passes.
 */
export const DEFAULT_MARGIN_MS = 50;

const GRPC_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};
// Exactly the spec's grammar: 1 to 8 ASCII digits and one unit letter.
const GRPC_PATTERN = /^(\d{1,8})([HMSmun])$/;
// Integer milliseconds; more than 10 digits is past any timer anyway.
const MS_PATTERN = /^\d{1,10}$/;
// RFC 9110 §5.6.2 token: what a header name may be.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Why an inbound budget header was not used. */
export type IgnoredReason = "malformed" | "out-of-range";

/**
 * Reads one inbound budget header. `grpc-timeout` follows the gRPC wire
 * format (`"250m"`, `"3S"`, up to 8 digits); every other header is integer
 * milliseconds. A repeated header (joined with `", "` by `Headers`) is
 * malformed. Zero is valid for `grpc-timeout` (an already expired call) but
 * not in milliseconds headers, where Envoy uses it for "no timeout".
 * Anything above 2^31−1 ms is out of range.
 *
 * @param name The header name, lower case.
 * @param value The header value as `Headers.get` returns it.
 * @returns `{ ms }` or `{ ignored }`.
 *
 * @example
 * ```ts
 * import { readBudget } from "timebound/hono";
 * console.assert(readBudget("grpc-timeout", "250m").ms === 250);
 * console.assert(readBudget("grpc-timeout", "2S").ms === 2000);
 * console.assert(readBudget("grpc-timeout", "123456789m").ignored === "malformed"); // 9 digits
 * console.assert(readBudget("x-envoy-expected-rq-timeout-ms", "1500").ms === 1500);
 * console.assert(readBudget("x-envoy-expected-rq-timeout-ms", "1e3").ignored === "malformed");
 * console.assert(readBudget("timebound-budget-ms", "99999999999").ignored === "malformed");
 * console.assert(readBudget("timebound-budget-ms", "9999999999").ignored === "out-of-range");
 * ```
 */
export function readBudget(
  name: string,
  value: string,
): { ms: number; ignored?: undefined } | { ms?: undefined; ignored: IgnoredReason } {
  let ms: number;
  if (name === GRPC_TIMEOUT) {
    const m = GRPC_PATTERN.exec(value);
    if (!m) return { ignored: "malformed" };
    ms = Number(m[1]) * GRPC_UNIT_MS[m[2]!]!;
  } else {
    if (!MS_PATTERN.test(value)) return { ignored: "malformed" };
    ms = Number(value);
    if (ms === 0) return { ignored: "out-of-range" };
  }
  if (ms > MAX_TIMER_MS) return { ignored: "out-of-range" };
  return { ms };
}

/**
 * Formats a budget for `grpc-timeout`: the finest unit whose value fits the
 * spec's 8 digits, rounded down (rounding up would hand out time we do not
 * have).
 *
 * @param ms Milliseconds, ≥ 0.
 * @returns A header value such as `"1950m"` or `"86400S"`.
 *
 * @example
 * ```ts
 * import { formatGrpcTimeout } from "timebound/hono";
 * console.assert(formatGrpcTimeout(1950) === "1950000u");
 * console.assert(formatGrpcTimeout(0.5) === "500000n");
 * console.assert(formatGrpcTimeout(86_400_000) === "86400000m");
 * console.assert(formatGrpcTimeout(1e9) === "1000000S");
 * ```
 */
export function formatGrpcTimeout(ms: number): string {
  for (const unit of ["n", "u", "m", "S", "M", "H"] as const) {
    const n = Math.floor(ms / GRPC_UNIT_MS[unit]!);
    if (n <= 99_999_999) return `${n}${unit}`;
  }
  return "99999999H";
}

/** Options of outbound propagation: which origins hear the budget, and how. */
export interface PropagateOptions {
  /**
   * Origins that may receive the budget (`"https://api.internal:8443"`), or
   * a predicate on the outbound URL. Nothing else gets it: a budget tells a
   * third party how long you will wait.
   */
  to: readonly string[] | ((url: URL) => boolean);
  /** The header to write; `grpc-timeout` is written in gRPC's format, others as integer ms. @default "timebound-budget-ms" */
  header?: string;
  /** Subtracted from the time left, so the downstream gives up first. @default 50 (ms) */
  margin?: Duration;
}

/** Propagation settings, validated. */
export interface Propagation {
  header: string;
  marginMs: number;
  allows(url: URL): boolean;
  /** The header value for `remainingMs` left, or `undefined` when there is no deadline. */
  value(remainingMs: number): string | undefined;
}

/**
 * Validates a header name option and returns it in lower case.
 *
 * @throws {TypeError} when it is not a valid header name.
 */
export function headerNameOption(name: string, value: unknown): string {
  if (typeof value !== "string" || !TOKEN.test(value)) {
    throw new TypeError(
      `Invalid option '${name}': expected a header name (an RFC 9110 token), got ${describe(value)}`,
    );
  }
  return value.toLowerCase();
}

/**
 * Validates the `propagate` option.
 *
 * @throws {TypeError} for a wrong type, an unknown key, or an origin that is not an http(s) origin.
 * @throws {RangeError} for a margin out of range.
 */
export function resolvePropagation(value: unknown): Propagation | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Invalid option 'propagate': expected an object, got ${describe(value)}`);
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== "to" && key !== "header" && key !== "margin") {
      throw new TypeError(`Unknown option 'propagate.${key}': expected one of to, header, margin`);
    }
  }
  const header =
    obj.header === undefined ? BUDGET_HEADER : headerNameOption("propagate.header", obj.header);
  // 0 is a valid margin (durationOption rejects it: for a limit, 0 is a mistake).
  const marginMs =
    obj.margin === undefined
      ? DEFAULT_MARGIN_MS
      : obj.margin === 0
        ? 0
        : durationOption("propagate.margin", obj.margin);
  let allows: (url: URL) => boolean;
  if (typeof obj.to === "function") {
    const predicate = obj.to as (url: URL) => boolean;
    allows = (url) => predicate(url) === true;
  } else if (Array.isArray(obj.to)) {
    const origins = new Set(
      obj.to.map((o: unknown, i: number) => originOption(`propagate.to[${i}]`, o)),
    );
    allows = (url) => origins.has(url.origin);
  } else {
    throw new TypeError(
      `Invalid option 'propagate.to': expected an array of origins or a function, got ${describe(obj.to)}`,
    );
  }
  const grpc = header === GRPC_TIMEOUT;
  return {
    header,
    marginMs,
    allows,
    value(remainingMs) {
      if (remainingMs === Number.POSITIVE_INFINITY) return undefined;
      // At least 1 ms: 0 reads as "no timeout" to Envoy and to ms headers here.
      const left = Math.max(1, remainingMs - marginMs);
      return grpc ? formatGrpcTimeout(left) : String(Math.floor(left));
    },
  };
}

function originOption(name: string, value: unknown): string {
  let url: URL | undefined;
  if (typeof value === "string") {
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
  }
  if (
    !url ||
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    url.pathname !== "/" ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    throw new TypeError(
      `Invalid option '${name}': expected an http(s) origin like "https://api.internal:8443", got ${describe(value)}`,
    );
  }
  return url.origin;
}
