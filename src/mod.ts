/**
 * timebound: outbound HTTP that finishes on time.
 *
 * `createFetch()` returns a fetch with a hard total deadline that covers the
 * whole exchange (response body included), per-phase limits (`headers`,
 * `readIdle`, `writeIdle`, `minRate`), chunked uploads, typed errors and
 * phase timings. It runs unchanged on Node ≥ 20, Deno, Bun and Cloudflare
 * workerd. The Hono middleware is `timebound/hono`; the simulator that
 * predicts it is `timebound/sim`.
 *
 * @module
 */

export {
  type BreakerOptions,
  type BreakerSnapshot,
  type BreakerState,
  type BreakerStateChange,
  type BreakerTicket,
  CircuitBreaker,
} from "./breaker.ts";
export { type Clock, realClock, type TimerHandle } from "./clock.ts";
export { type Duration, formatDuration, MAX_TIMER_MS, parseDuration } from "./duration.ts";
export {
  CircuitOpenError,
  isCircuitOpenError,
  isTimeoutError,
  type LimitSource,
  type Phase,
  type TimeoutDetails,
  TimeoutError,
} from "./errors.ts";
export type {
  AttemptEndEvent,
  AttemptStartEvent,
  CallEndEvent,
  CallStartEvent,
  RetryRefusedEvent,
  RetryScheduledEvent,
  TimeboundEvent,
  TimeboundEventListener,
  TimeoutEvent,
} from "./events.ts";
export { createFetch, type TimeboundFetch, type TimeboundInit } from "./fetch.ts";
export { type Learned, LearnedLimit, type LearnOptions } from "./learn.ts";
export {
  CHUNK_MAX_BYTES,
  CHUNK_MIN_BYTES,
  chunkSizeFor,
  type ProxyMode,
  type UploadTimeInput,
  uploadTimeMs,
} from "./model.ts";
export {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_TOTAL_MS,
  DEFAULT_UPLOAD_THRESHOLD,
  type Limits,
  type MinRate,
  type ResolvedLimits,
  type TimeboundOptions,
  type UploadOptions,
  type UploadProgress,
} from "./policy.ts";
export { RetryBudget, type RetryOptions } from "./retry.ts";
export type { Route, RouteInfo } from "./route.ts";
export { bodySizeOf, isReplayable } from "./source.ts";
export { type Timings, timingsOf } from "./timings.ts";
export { type Expiry, Watchdog, type WatchdogInit } from "./watchdog.ts";
