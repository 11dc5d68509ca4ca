/**
 * Durations as people write them: `250`, `"250ms"`, `"1.5s"`, `"2m"`,
 * `"2min"`, `"1h"`. One grammar for the library and the command line: the
 * CLI's flags parse with {@linkcode parseDuration}, and every duration the
 * CLI prints for `createFetch` is written by {@linkcode formatDuration}, so
 * advice runs as printed.
 *
 * @module
 */

/** A duration: milliseconds as a number, or a string with a unit (`ms`, `s`, `m` or `min`, `h`). */
export type Duration = number | string;

/**
 * The largest delay `setTimeout` honours: 2^31−1 ms (about 24.8 days). Larger
 * values overflow to 1 ms in every runtime (HTML timers spec, "timer
 * initialisation steps"), so a limit above it would fire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};
/**
 * The grammar: a decimal number (no sign, no exponent), optional blanks, and
 * one unit. Case matters (`M` is not minutes).
 */
const PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|min|s|m|h)\s*$/;
/** The units, as error messages list them. */
export const DURATION_UNITS = "ms, s, m or min, h";

/**
 * Parses a duration into milliseconds. Numbers are taken as milliseconds.
 *
 * @param input A number of milliseconds, or a string such as `"250ms"`, `"1.5s"`, `"2m"`, `"2min"`, `"1h"`.
 * @returns The duration in milliseconds (may be fractional).
 * @throws {TypeError} When `input` is neither a number nor a string, or the string has no known unit.
 *
 * @example
 * ```ts
 * import { parseDuration } from "timebound";
 * console.assert(parseDuration("1.5s") === 1500);
 * console.assert(parseDuration("2m") === 120_000);
 * console.assert(parseDuration("2min") === 120_000);
 * console.assert(parseDuration(250) === 250);
 * ```
 */
export function parseDuration(input: Duration): number {
  if (typeof input === "number") return input;
  if (typeof input !== "string") {
    throw new TypeError(
      `Cannot parse duration: expected a number of ms or a string like "1.5s", got ${describe(input)}`,
    );
  }
  const match = PATTERN.exec(input);
  if (!match) {
    throw new TypeError(
      `Cannot parse duration ${describe(input)}: expected a number and a unit (${DURATION_UNITS}), like "250ms" or "1.5s"`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/**
 * Writes milliseconds as a duration string that
 * {@linkcode parseDuration} reads back to exactly the same number: whole
 * hours as `"1h"`, whole minutes as `"2m"`, one second and up as seconds
 * (`"1.5s"`, `"90s"`), less as `"250ms"`. A value that seconds cannot
 * carry exactly stays in ms: 1005 → `"1005ms"`, because `"1.005s"` reads
 * back as 1004.9999999999999.
 *
 * @param ms A finite number of milliseconds, ≥ 0.
 * @returns A string such that `parseDuration(formatDuration(ms)) === ms`.
 * @throws {RangeError} For a negative, infinite or NaN value, or one too small or too large to write without an exponent.
 */
export function formatDuration(ms: number): string {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(
      `Cannot format duration ${describe(ms)}: expected a finite number of ms >= 0`,
    );
  }
  const candidates: string[] = [];
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) candidates.push(`${ms / 3_600_000}h`);
  if (ms >= 60_000 && ms % 60_000 === 0) candidates.push(`${ms / 60_000}m`);
  if (ms >= 1_000) candidates.push(`${ms / 1_000}s`);
  candidates.push(`${ms}ms`);
  // The first that reads back exactly: 1.005 s is 1004.9999999999999 ms
  // after a round trip through seconds, so it is written in ms instead.
  const text = candidates.find((c) => PATTERN.test(c) && parseDuration(c) === ms);
  if (text === undefined) {
    throw new RangeError(
      `Cannot format duration ${describe(ms)}: not writable without an exponent`,
    );
  }
  return text;
}

/** A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value == null)
    return String(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
