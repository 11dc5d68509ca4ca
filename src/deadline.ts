/**
 * A request's deadline: one point in time after which nobody is waiting for
 * the answer any more. The Hono middleware gives every inbound request one
 * (`c.var.deadline`); everything the handler does on its behalf — outbound
 * fetches, a database query, a queue publish — should end by then.
 *
 * It costs nothing until used: the timer behind {@linkcode Deadline.signal} is
 * armed on first access (most handlers only use the bound fetch, whose own
 * watchdog enforces the same instant), and there is at most one per request.
 * It is built on the {@linkcode Clock}, not on `AbortSignal.timeout`/`any`
 * (uncleared timeouts count against workerd's per-request limit, and `any`
 * leaks on workerd; ARCHITECTURE.md, "Runtime facts").
 *
 * @module
 */
import type { Clock, TimerHandle } from "./clock.ts";
import { redactUrl, TimeoutError } from "./errors.ts";

const noop = (): void => {};

/** The time left for one inbound request, and the means to stay inside it. */
export interface Deadline {
  /** The budget the request was given, in ms (`Infinity` when `total` is off). */
  readonly budgetMs: number;
  /** What set the budget: `"policy"` (the middleware's `total`) or the inbound header that shrank it. */
  readonly source: string;
  /** The deadline on the Clock's scale (`clock.now()` units). */
  readonly at: number;
  /** Milliseconds left, never negative (`Infinity` when there is no deadline). */
  remaining(): number;
  /** Whether the deadline has passed. */
  readonly expired: boolean;
  /**
   * Aborts when the deadline passes (reason: a {@linkcode TimeoutError} with
   * phase `"total"`), when the client disconnects (an `AbortError` whose
   * `cause` is the server's reason), or when the inbound request has been answered. Pass it to any
   * API that takes a signal.
   */
  readonly signal: AbortSignal;
  /**
   * Bounds other work by the deadline: resolves or rejects as `work` does, or
   * rejects with `signal.reason` as soon as the signal aborts. Give a
   * function to receive the signal, so that the work is cancelled, not just
   * abandoned (racing a promise alone leaves the work running).
   *
   * @param work A promise, or a function that takes the signal and returns one.
   * @returns What `work` resolves to.
   * @throws The deadline's `TimeoutError`, the client's abort reason, or what `work` rejects with.
   */
  within<T>(work: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T>)): Promise<T>;
}

/** Options of {@linkcode DeadlineScope}. */
export interface DeadlineInit {
  clock: Clock;
  /** The budget in ms, ≥ 0; `Infinity` for none. */
  budgetMs: number;
  /** What set the budget (see {@linkcode Deadline.source}). */
  source: string;
  /** When the budget started, on `clock`. @default clock.now() */
  startedAt?: number;
  /** The inbound request's signal: its abort (client gone) ends the scope. */
  parent?: AbortSignal | undefined;
  /** The inbound request, to name it in the TimeoutError (credentials and query are stripped). */
  url: string;
  method: string;
  /**
   * Called with every error the scope creates (its TimeoutError, the
   * client-gone AbortError) before anyone sees it.
   */
  decorate?: ((error: Error) => void) | undefined;
}

/** The reason outbound work is aborted with once the inbound request has been answered. */
function requestEnded(): DOMException {
  return new DOMException(
    "The inbound request was answered before this work finished",
    "AbortError",
  );
}

/**
 * The deadline of one inbound request, and the controls its owner (the
 * middleware) keeps: a signal that does not arm the timer, and `end()`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { realClock } from "timebound";
 * import { timebound } from "timebound/hono";
 * const app = new Hono().use(timebound({ total: 50 }));
 * app.get("/", async (c) => {
 *   const d = c.var.deadline;
 *   console.assert(d.remaining() <= 50 && !d.expired && d.source === "policy");
 *   // Bound any work: the function gets the signal, so the work is cancelled too.
 *   await d.within((signal) => new Promise((resolve, reject) => {
 *     const t = realClock.setTimer(resolve, 500);
 *     signal.addEventListener("abort", () => { realClock.clearTimer(t); reject(signal.reason); }, { once: true });
 *   }));
 *   return c.text("unreachable");
 * });
 * const res = await app.request("/");
 * console.assert(res.status === 504);
 * ```
 */
export class DeadlineScope implements Deadline {
  readonly budgetMs: number;
  readonly source: string;
  readonly at: number;
  readonly #clock: Clock;
  readonly #startedAt: number;
  readonly #parent: AbortSignal | undefined;
  readonly #url: string;
  readonly #method: string;
  readonly #decorate: ((error: Error) => void) | undefined;
  #controller: AbortController | undefined;
  #timer: TimerHandle | undefined;
  /** Someone holds the public signal: the timer stays armed until end(). */
  #exposed = false;
  /** within() calls in progress: the timer is armed only while they run. */
  #holds = 0;
  #ended = false;
  #cleanups: (() => void)[] | undefined;
  readonly #onParentAbort = (): void => {
    this.#abort(this.#clientGone());
  };
  readonly #tick = (): void => {
    this.#timer = undefined;
    this.#arm();
  };

  constructor(init: DeadlineInit) {
    this.#clock = init.clock;
    this.#startedAt = init.startedAt ?? init.clock.now();
    this.budgetMs = init.budgetMs;
    this.source = init.source;
    this.at = this.#startedAt + init.budgetMs;
    this.#parent = init.parent;
    this.#url = init.url;
    this.#method = init.method;
    this.#decorate = init.decorate;
    // One listener for the request's lifetime, removed in end(). Outbound
    // calls hang off this scope, not off the parent: AbortSignal.any would
    // allocate per call (ARCHITECTURE.md).
    if (this.#parent && !this.#parent.aborted) {
      this.#parent.addEventListener("abort", this.#onParentAbort, { once: true });
    }
  }

  remaining(): number {
    return Math.max(0, this.at - this.#clock.now());
  }

  get expired(): boolean {
    return this.remaining() === 0;
  }

  get signal(): AbortSignal {
    const signal = this.scopeSignal;
    this.#exposed = true;
    this.#arm();
    return signal;
  }

  /**
   * The scope's signal without arming the deadline timer: it aborts on client
   * disconnect and on `end()`, and at the deadline only once something armed
   * the timer. The bound fetch uses it, because its watchdog already ends
   * every call at the deadline (with a more precise error).
   */
  get scopeSignal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#parent?.aborted) this.#controller.abort(this.#clientGone());
      else if (this.#ended) this.#controller.abort(requestEnded());
    }
    return this.#controller.signal;
  }

  /** Whether the deadline timer is armed (the scope then holds a timer until end()). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  within<T>(work: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T>)): Promise<T> {
    const signal = this.scopeSignal;
    // The timer is needed only while this work runs: once nothing waits on
    // the deadline, the request should not hold a timer (nor, in the
    // middleware, a wrapped response body).
    this.#holds++;
    this.#arm();
    const settle = (): void => {
      signal.removeEventListener("abort", onAbort);
      if (--this.#holds === 0 && !this.#exposed) this.#disarm();
    };
    let onAbort = noop;
    if (signal.aborted) {
      settle();
      // Started work still gets a handler: an unhandled rejection kills Node.
      if (typeof work !== "function") Promise.resolve(work).catch(noop);
      return Promise.reject(signal.reason);
    }
    let pending: PromiseLike<T>;
    try {
      pending = typeof work === "function" ? work(signal) : work;
    } catch (error) {
      settle();
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      onAbort = (): void => {
        settle();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      Promise.resolve(pending).then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /**
   * The reason outbound work is aborted with when the client goes away.
   * Servers abort the inbound signal with whatever they like (@hono/node-server
   * uses a string, which a handler would then throw, and Hono passes only
   * Errors to its error handler); callers get one AbortError, the server's
   * reason as its `cause`.
   */
  #clientGone(): DOMException {
    const error = new DOMException("The client closed the connection", "AbortError");
    Object.defineProperty(error, "cause", {
      value: this.#parent?.reason,
      configurable: true,
      writable: true,
    });
    this.#decorate?.(error);
    return error;
  }

  /** The error the deadline aborts with, made now. */
  timeoutError(): TimeoutError {
    const error = new TimeoutError({
      phase: "total",
      limitMs: this.budgetMs,
      elapsedMs: this.#clock.now() - this.#startedAt,
      bytesSent: 0,
      bytesReceived: 0,
      attempt: 1,
      url: redactUrl(this.#url),
      method: this.#method,
    });
    this.#decorate?.(error);
    return error;
  }

  /** Runs `fn` at `end()` (or at once if the scope has ended). */
  onEnd(fn: () => void): void {
    if (this.#ended) {
      fn();
      return;
    }
    this.#cleanups ??= [];
    this.#cleanups.push(fn);
  }

  /**
   * Ends the scope: the inbound request has been answered. Clears the timer,
   * removes the listener on the inbound signal, aborts whatever still hangs
   * off the scope, runs `onEnd` callbacks. Idempotent.
   *
   * @param idle The owner knows that none of its own work hangs on the scope
   *   signal (no outbound call in flight): the abort, and the DOMException it
   *   needs, are skipped unless the public signal was handed out.
   */
  end(idle = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#disarm();
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
    const controller = this.#controller;
    if (controller && !controller.signal.aborted && (!idle || this.#exposed || this.#holds > 0)) {
      controller.abort(requestEnded());
    }
    const cleanups = this.#cleanups;
    this.#cleanups = undefined;
    if (cleanups) for (const fn of cleanups) fn();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#ended || this.#controller?.signal.aborted) return;
    if (!this.#exposed && this.#holds === 0) return;
    if (this.at === Number.POSITIVE_INFINITY) return;
    const left = this.at - this.#clock.now();
    // Re-checked when the timer fires: Node can fire up to 0.7 ms early.
    if (left > 0) this.#timer = this.#clock.setTimer(this.#tick, left);
    else this.#abort(this.timeoutError());
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #abort(reason: unknown): void {
    this.#disarm();
    const controller = this.#controller;
    if (!controller) {
      // Nobody holds the signal yet; whoever asks later gets an aborted one.
      if (this.#parent?.aborted || this.#ended) return;
      this.#controller = new AbortController();
      this.#controller.abort(reason);
      return;
    }
    if (!controller.signal.aborted) controller.abort(reason);
  }
}
