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
import { type LimitSource, redactUrl, TimeoutError } from "./errors.ts";

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
   * `cause` is the server's reason), or when the response has ended (a
   * streamed body included). Pass it to any API that takes a signal.
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
   * @throws The deadline's `TimeoutError`, the client's abort reason, the
   *   scope's end (an `AbortError`, at once for work started after the
   *   response ended), or what `work` rejects with.
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
  /**
   * The inbound request's signal (its abort means the client is gone), or a
   * function returning it, read only when something first needs the scope's
   * signal: on Deno, reading `request.signal` at all makes `Deno.serve` print
   * a warning about its legacy abort (see the README), and on
   * `@hono/node-server` it allocates; a request that never calls out needs
   * neither.
   */
  parent?: AbortSignal | (() => AbortSignal | undefined) | undefined;
  /** The inbound request, to name it in the TimeoutError (credentials and query are stripped). */
  url: string;
  method: string;
  /**
   * Called with every error the scope creates, and where it comes from,
   * before anyone sees it.
   */
  decorate?: ((error: Error, origin: ScopeErrorOrigin) => void) | undefined;
}

/**
 * Where a scope's error comes from: its own deadline (`within()`, `signal`),
 * a call it refused because the deadline had passed (`timeoutError(forCall)`),
 * the client leaving, or the scope's end.
 */
export type ScopeErrorOrigin = "deadline" | "call" | "gone" | "end";

/** The reason work is rejected with once the inbound request's response has ended. */
function requestEnded(): DOMException {
  return new DOMException(
    "The inbound request's response has ended: its deadline scope is closed",
    "AbortError",
  );
}

/** Names another request in a scope's TimeoutError (see {@linkcode DeadlineScope.timeoutError}). */
export interface TimeoutFor {
  url: string;
  method: string;
  /** The deadline had already passed when this work was to start. */
  before?: boolean;
  /** Who set the limit (`"caller"`: a budget the inbound client sent). */
  limitSource?: LimitSource;
}

/**
 * The deadline of one inbound request, and the controls its owner (the
 * middleware) keeps: the scope's life signal, and `end()`.
 *
 * Two signals, so that each error names the right request: the life signal
 * aborts only when the client leaves or the scope ends (the bound fetch
 * uses it; its own watchdog ends each call at the deadline with an error
 * naming the outbound request), and the public {@linkcode signal} aborts on
 * those and at the deadline. Once the scope has ended, both are aborted with
 * the same reason, so every late call fails the same way.
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
  /** When the budget started, on the clock (nested scopes share it). */
  readonly startedAt: number;
  readonly clock: Clock;
  readonly #parentInit: DeadlineInit["parent"];
  #parent: AbortSignal | undefined;
  readonly #url: string;
  readonly #method: string;
  readonly #decorate: DeadlineInit["decorate"];
  /** Aborts when the client leaves or the scope ends. */
  #life: AbortController | undefined;
  /** The public signal: the life signal's aborts, plus the deadline. */
  #public: AbortController | undefined;
  #timer: TimerHandle | undefined;
  /** Someone holds the public signal: the timer stays armed until end(). */
  #exposed = false;
  /** within() calls in progress: the timer is armed only while they run. */
  #holds = 0;
  #ended = false;
  /** Why the scope's life ended (client gone, or end()); shared by every late caller. */
  #lifeReason: unknown;
  #cleanups: (() => void)[] | undefined;
  readonly #onParentAbort = (): void => {
    this.#endLife(this.#clientGone());
  };
  readonly #tick = (): void => {
    this.#timer = undefined;
    this.#arm();
  };

  constructor(init: DeadlineInit) {
    this.clock = init.clock;
    this.startedAt = init.startedAt ?? init.clock.now();
    this.budgetMs = init.budgetMs;
    this.source = init.source;
    this.at = this.startedAt + init.budgetMs;
    this.#parentInit = init.parent;
    this.#url = init.url;
    this.#method = init.method;
    this.#decorate = init.decorate;
  }

  remaining(): number {
    return Math.max(0, this.at - this.clock.now());
  }

  get expired(): boolean {
    return this.remaining() === 0;
  }

  /** Whether the scope has ended (the response is over, or the client left). */
  get ended(): boolean {
    return this.#ended || this.#lifeReason !== undefined;
  }

  get signal(): AbortSignal {
    const signal = this.#publicSignal();
    this.#exposed = true;
    this.#arm();
    return signal;
  }

  /**
   * The scope's life signal: it aborts when the client disconnects and when
   * the scope ends, never at the deadline (the bound fetch's watchdog ends
   * its calls then, naming the outbound request). Reading it does not arm
   * the deadline timer.
   */
  get scopeSignal(): AbortSignal {
    if (!this.#life) {
      this.#life = new AbortController();
      this.#attach();
      if (this.#ended) this.#lifeReason ??= this.#ending();
      if (this.#lifeReason !== undefined) this.#life.abort(this.#lifeReason);
    }
    return this.#life.signal;
  }

  /** Whether the deadline timer is armed (the scope then holds a timer until end()). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  within<T>(work: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T>)): Promise<T> {
    const signal = this.#publicSignal();
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
    this.#decorate?.(error, "gone");
    return error;
  }

  /**
   * The error the deadline aborts with, made now. By default it names the
   * inbound request (the deadline is its own); `forCall` names an outbound
   * one instead.
   */
  timeoutError(forCall?: TimeoutFor): TimeoutError {
    const error = new TimeoutError({
      phase: "total",
      limitMs: this.budgetMs,
      elapsedMs: this.clock.now() - this.startedAt,
      bytesSent: 0,
      bytesReceived: 0,
      attempt: 1,
      url: redactUrl(forCall?.url ?? this.#url),
      method: forCall?.method ?? this.#method,
      limitSource: forCall?.limitSource,
    });
    if (forCall?.before) {
      error.message = `${error.message}; the request's deadline had passed before the call started`;
    }
    this.#decorate?.(error, forCall ? "call" : "deadline");
    return error;
  }

  /** The reason every call is rejected with once the scope's life is over (the same object each time). */
  get endReason(): unknown {
    return this.scopeSignal.reason;
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
   * Ends the scope: the inbound request's response is over. Clears the
   * timer, removes the listener on the inbound signal, aborts whatever still
   * hangs off the scope, runs `onEnd` callbacks. From now on both signals
   * are aborted with one reason. Idempotent.
   *
   * @param idle The owner knows that none of its own work hangs on the scope
   *   (no outbound call in flight): no signal handed out so far is aborted,
   *   and the reason is made only if someone asks later.
   */
  end(idle = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#disarm();
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
    if (idle && !this.#exposed && this.#holds === 0) {
      // Nothing waits on these: whoever asks later gets aborted ones.
      this.#life = undefined;
      this.#public = undefined;
    } else if (this.#lifeReason === undefined) {
      this.#endLife(this.#ending());
    }
    const cleanups = this.#cleanups;
    this.#cleanups = undefined;
    if (cleanups) for (const fn of cleanups) fn();
  }

  #ending(): DOMException {
    const error = requestEnded();
    this.#decorate?.(error, "end");
    return error;
  }

  /** Reads the parent signal (once) and listens to it until end(). */
  #attach(): void {
    if (this.#parent !== undefined || this.#parentInit === undefined) return;
    if (this.#ended) {
      this.#lifeReason ??= this.#ending();
      return;
    }
    const parent = typeof this.#parentInit === "function" ? this.#parentInit() : this.#parentInit;
    if (!parent) return;
    this.#parent = parent;
    // One listener for the request's lifetime, removed in end(). Outbound
    // calls hang off this scope, not off the parent: AbortSignal.any would
    // allocate per call (ARCHITECTURE.md).
    if (parent.aborted) this.#lifeReason ??= this.#clientGone();
    else parent.addEventListener("abort", this.#onParentAbort, { once: true });
  }

  #publicSignal(): AbortSignal {
    if (!this.#public) {
      this.#public = new AbortController();
      const life = this.scopeSignal;
      if (life.aborted) this.#public.abort(life.reason);
    }
    return this.#public.signal;
  }

  #arm(): void {
    if (this.#timer !== undefined || this.ended || this.#public?.signal.aborted) return;
    if (!this.#exposed && this.#holds === 0) return;
    if (this.at === Number.POSITIVE_INFINITY) return;
    const left = this.at - this.clock.now();
    // Re-checked when the timer fires: Node can fire up to 0.7 ms early.
    if (left > 0) this.#timer = this.clock.setTimer(this.#tick, left);
    else this.#public?.abort(this.timeoutError());
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** The client left or the scope ended: both signals abort with `reason`, now and for anyone who asks later. */
  #endLife(reason: unknown): void {
    this.#disarm();
    this.#lifeReason ??= reason;
    const why = this.#lifeReason;
    if (this.#life && !this.#life.signal.aborted) this.#life.abort(why);
    if (this.#public && !this.#public.signal.aborted) this.#public.abort(why);
  }
}
