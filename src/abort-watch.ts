/**
 * One "abort" listener per signal, however many calls watch it.
 *
 * A caller's signal (or a Hono request scope's) is often shared by many
 * calls in flight at once. A listener per call would put dozens on one
 * `AbortSignal`, and Node warns past ten (`MaxListenersExceededWarning`),
 * where bare fetch stays silent (undici raises the signal's limit; a
 * library limited to web standards cannot). So the calls watching a signal
 * are kept in a set, and the signal has a single listener that tells each
 * of them, in the order they started watching.
 *
 * @module
 */

import { reportCallbackError } from "./report.ts";

const watchers = new WeakMap<AbortSignal, Set<EventListenerObject>>();

/** The signal's one listener: every watcher hears the abort, even if one throws. */
function fanOut(event: Event): void {
  const signal = event.target as AbortSignal;
  const set = watchers.get(signal);
  if (!set) return;
  watchers.delete(signal);
  for (const watcher of set) {
    try {
      watcher.handleEvent(event);
    } catch (error) {
      reportCallbackError(error);
    }
  }
}

/** `watcher.handleEvent` runs once when `signal` aborts, unless unwatched first. */
export function watchAbort(signal: AbortSignal, watcher: EventListenerObject): void {
  let set = watchers.get(signal);
  if (!set) {
    set = new Set();
    watchers.set(signal, set);
    signal.addEventListener("abort", fanOut, { once: true });
  }
  set.add(watcher);
}

/** Stops `watcher` hearing `signal`; the last one out removes the listener. Idempotent. */
export function unwatchAbort(signal: AbortSignal, watcher: EventListenerObject): void {
  const set = watchers.get(signal);
  if (!set?.delete(watcher) || set.size > 0) return;
  watchers.delete(signal);
  signal.removeEventListener("abort", fanOut);
}
