/**
 * What the case files share: the tracking clock, the fault server's control
 * endpoints, bounded waits and byte helpers. Web-standard APIs only.
 *
 * @module
 */
import { lengthFraming } from "../../src/framing.ts";
import { type Clock, isTimeoutError, type TimeoutError } from "../../src/mod.ts";
import { assert, type Ctx, describe, sleep } from "./runner.ts";

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Slack for comparing our clock with the library's (Node timers can fire 0.7 ms early). */
export const EARLY_MS = 5;

/**
 * A real-time Clock that knows which of its timers are still armed: after
 * the cases, the library must have left none (rule: at most one per request,
 * cleared when the request ends). The Hono middleware under test uses it too.
 */
const armedTimers = new Set<unknown>();
export const clock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms, background) {
    const h: unknown = setTimeout(() => {
      armedTimers.delete(h);
      fn();
    }, ms);
    // As realClock does: a deadline guarding I/O never holds the process open.
    if (background) (h as { unref?: () => void }).unref?.();
    armedTimers.add(h);
    return h;
  },
  clearTimer(h) {
    armedTimers.delete(h);
    clearTimeout(h as number);
  },
};
/**
 * Whether this runtime streams a buffered body over the threshold (it can
 * keep the body's Content-Length: Node, Bun, workerd). On Deno a buffered
 * body goes as the caller gave it; only a caller's stream is streamed.
 */
export const streamsBufferedBodies = lengthFraming !== undefined;

/** Library timers armed on {@linkcode clock} right now. */
export function armed(): number {
  return armedTimers.size;
}

/**
 * A fault-server URL for `path` carrying the request id and the route's
 * parameters; on `base` when given (e.g. `t.env.fresh`).
 */
export function url(
  t: Ctx,
  path: string,
  id: string,
  params: Record<string, number | string> = {},
  base = t.env.http,
): string {
  const q = new URLSearchParams({ id });
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  return `${base}${path}?${q}`;
}

/** What the fault server saw for one request id (see servers.ts, `IdStats`). */
export interface ServerStats {
  requests: number;
  bytesReceived: number;
  sha256?: string;
  /** sha256 of each request's body, in arrival order. */
  hashes: string[];
  /** Arrival of each request, ms after the first one of this id. */
  arrivedMs: number[];
  finished: boolean;
  closedAfterMs?: number;
  /** Responses of this id left unfinished by a closed connection. */
  cutOff: number;
}

export async function stats(t: Ctx, id: string): Promise<ServerStats | null> {
  const res = await fetch(`${t.env.http}/_stats?id=${encodeURIComponent(id)}`);
  return (await res.json()) as ServerStats | null;
}

/**
 * Polls the fault server (every 50 ms, at most `withinMs`) until `ok` holds
 * for the stats of `id`; returns them, or throws naming `what`.
 */
export async function serverSees(
  t: Ctx,
  id: string,
  ok: (s: ServerStats) => boolean,
  what: string,
  withinMs = 10_000,
): Promise<ServerStats> {
  let last: ServerStats | null = null;
  for (let i = 0; i < withinMs / 50; i++) {
    last = await stats(t, id);
    if (last && ok(last)) return last;
    await sleep(50);
  }
  throw new Error(
    `${what}: not seen within ${withinMs} ms (server stats: ${JSON.stringify(last)})`,
  );
}

/** Polls until the server saw the connection of `id` go away; returns when (ms after arrival). */
export async function serverSawClose(t: Ctx, id: string, withinMs = 10_000): Promise<number> {
  const s = await serverSees(
    t,
    id,
    (s) => s.closedAfterMs !== undefined,
    `server sees the connection of ${id} close`,
    withinMs,
  );
  return s.closedAfterMs!;
}

/** Reads a body to the end like a hot loop would; resolves to the byte count. */
export async function drain(res: Response): Promise<number> {
  const reader = res.body!.getReader();
  let n = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) return n;
    n += r.value.byteLength;
  }
}

export function expectTimeout(e: unknown, phase: TimeoutError["phase"]): TimeoutError {
  assert(isTimeoutError(e), `expected a TimeoutError (${phase}), got ${describe(e)}`);
  assert(e.phase === phase, `expected phase ${phase}, got ${e.phase}: ${e.message}`);
  assert(e.elapsedMs >= e.limitMs, `fired early: ${e.elapsedMs} ms < limit ${e.limitMs} ms`);
  return e;
}

export function within(ms: number, lo: number, hi: number, what: string): void {
  assert(
    ms >= lo - EARLY_MS && ms <= hi,
    `${what} took ${Math.round(ms)} ms, expected ${lo}–${hi}`,
  );
}

export async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, i + 65_536));
  return out;
}
