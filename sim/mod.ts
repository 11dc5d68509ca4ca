/**
 * `timebound/sim`: a discrete-event simulator of outbound HTTP requests.
 * It runs the very same watchdog as `timebound`, on the virtual time of
 * {@linkcode VirtualClock}, so what it predicts is what the fetch wrapper and
 * the Hono middleware do.
 *
 * @module
 */

export * from "./budget.ts";
export * from "./capacity.ts";
export * from "./engine.ts";
export * from "./linktrace.ts";
export * from "./observations.ts";
export * from "./observer.ts";
export * from "./pool.ts";
export * from "./proxies.ts";
export * from "./queueing.ts";
export * from "./random.ts";
export * from "./recommend.ts";
export * from "./recommend-observed.ts";
export * from "./sweep.ts";
export * from "./trace.ts";
export * from "./units.ts";
export * from "./upload.ts";
