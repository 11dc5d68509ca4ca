/**
 * Reporting an error thrown by a user callback (`onTimeout`,
 * `onUploadProgress`): it never skips the library's own cleanup, and it is
 * not swallowed. It is reported as a throwing event listener is — through
 * `reportError` (Deno, Bun, workerd, browsers), or as an uncaught exception
 * where there is none (Node) — so the platform's own handlers
 * (`addEventListener("error")`, `process.on("uncaughtException")`) see it.
 *
 * @module
 */

const g = globalThis as { reportError?: (error: unknown) => void };

/** Reports `error` from a user callback, after the library's state change. */
export function reportCallbackError(error: unknown): void {
  if (typeof g.reportError === "function") g.reportError(error);
  else
    queueMicrotask(() => {
      throw error;
    });
}

/** Calls `fn(arg)`; a throw is reported, never propagated into library code. */
export function callSafely<T>(fn: ((arg: T) => void) | undefined, arg: T): void {
  if (fn === undefined) return;
  try {
    fn(arg);
  } catch (error) {
    reportCallbackError(error);
  }
}
