/**
 * `Server-Timing` (W3C Server Timing) from the outbound calls one inbound
 * request made: where its time went, visible in browser dev tools and curl.
 * Opt-in: it tells clients how your upstreams perform.
 *
 * @module
 */
import { isTimeoutError } from "./errors.ts";
import { timingsOf } from "./timings.ts";

/** One outbound call of an inbound request, as the middleware saw it. */
export interface CallRecord {
  /** 1-based order of the call within the inbound request. */
  n: number;
  method: string;
  /** Clock time the call started. */
  start: number;
  /** Clock time the call settled without a response (error). */
  failedAt?: number;
  response?: Response;
  /** Why the call failed, or why reading its body did (never an attempt that was retried). */
  error?: unknown;
  /**
   * Attempts that timed out before the call's answer (retried, or the last
   * one when the call failed): each attempt's own outcome, apart from the call's.
   */
  attempts?: unknown[];
}

/** Metric values: milliseconds with one decimal, which is what timers can tell apart. */
function ms(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/**
 * Formats the metrics: `deadline` (the budget and what set it), then per call
 * `fetch` (its whole time, attempts and outcome so far), `fetch-attempt` for
 * each earlier attempt that timed out (`desc="#n.k timeout:<phase>"`, `dur`
 * = when it fired), `fetch-ttfb`, `fetch-upload` and `fetch-download`, each
 * with `desc="#n"`. The call's outcome is the call's only: a call that
 * succeeded on a retry is its status, its failed attempts are listed apart.
 * A call whose body is still streaming when the headers go out has no
 * `fetch` duration yet.
 *
 * @param deadline The request's budget and its source.
 * @param calls The calls, in order.
 * @returns A `Server-Timing` header value (possibly empty).
 *
 * @example
 * ```ts
 * import { formatServerTiming } from "timebound/hono";
 * const v = formatServerTiming({ budgetMs: 2000, source: "grpc-timeout" }, [
 *   { n: 1, method: "GET", start: 0, failedAt: 500,
 *     error: Object.assign(new Error("t"), { name: "TimeoutError", phase: "headers" }) },
 * ]);
 * console.assert(v === 'deadline;dur=2000;desc="grpc-timeout", fetch;dur=500;desc="#1 GET timeout:headers"');
 * ```
 */
export function formatServerTiming(
  deadline: { budgetMs: number; source: string },
  calls: readonly CallRecord[],
): string {
  const out: string[] = [];
  const budget = Number.isFinite(deadline.budgetMs) ? `;dur=${ms(deadline.budgetMs)}` : "";
  out.push(`deadline${budget};desc="${token(deadline.source)}"`);
  for (const call of calls) {
    const id = `#${call.n}`;
    if (call.response === undefined) {
      const outcome = isTimeoutError(call.error)
        ? `timeout:${call.error.phase}`
        : call.error === undefined
          ? "pending"
          : "error";
      const dur = call.failedAt === undefined ? "" : `;dur=${ms(call.failedAt - call.start)}`;
      out.push(`fetch${dur};desc="${id} ${token(call.method)} ${outcome}"`);
      attemptsOf(call, out);
      continue;
    }
    const t = timingsOf(call.response);
    const status = call.response.status;
    if (!t) {
      out.push(`fetch;desc="${id} ${token(call.method)} ${status}"`);
      continue;
    }
    const attempts = t.attempts === 1 ? "" : ` attempts:${t.attempts}`;
    const total = t.total === undefined ? "" : `;dur=${ms(t.total)}`;
    // A limit that passed while the body was read.
    const cut = isTimeoutError(call.error)
      ? ` timeout:${call.error.phase}`
      : call.error === undefined
        ? ""
        : " error";
    out.push(`fetch${total};desc="${id} ${token(call.method)} ${status}${attempts}${cut}"`);
    attemptsOf(call, out);
    if (t.headers !== undefined) out.push(`fetch-ttfb;dur=${ms(t.headers)};desc="${id}"`);
    if (t.uploadStart !== undefined && t.uploadEnd !== undefined) {
      out.push(`fetch-upload;dur=${ms(t.uploadEnd - t.uploadStart)};desc="${id}"`);
    }
    if (t.headers !== undefined && t.bodyEnd !== undefined) {
      out.push(`fetch-download;dur=${ms(t.bodyEnd - t.headers)};desc="${id}"`);
    }
  }
  return out.join(", ");
}

/** The attempts of `call` that timed out on the way to its outcome (not the one that is the outcome). */
function attemptsOf(call: CallRecord, out: string[]): void {
  if (!call.attempts) return;
  for (const e of call.attempts) {
    if (e === call.error || !isTimeoutError(e)) continue;
    out.push(
      `fetch-attempt;dur=${ms(e.elapsedMs)};desc="#${call.n}.${e.attempt} timeout:${e.phase}"`,
    );
  }
}

/** Keeps a desc inside its quoted-string: only token characters survive. */
function token(text: string): string {
  return text.replace(/[^!#$%&'*+.^_`|~0-9A-Za-z:-]/g, "_");
}
