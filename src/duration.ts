/**
 * Durations as people write them: `250`, `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`.
 *
 * @module
 */

/** A duration: milliseconds as a number, or a string with a unit (`ms`, `s`, `m`, `h`). */
export type Duration = number | string;

/**
 * The largest delay `setTimeout` honours: 2^31−1 ms (about 24.8 days). Larger
 * values overflow to 1 ms in every runtime (HTML timers spec, "timer
 * initialisation steps"), so a limit above it would fire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)\s*$/;

/**
 * Parses a duration into milliseconds. Numbers are taken as milliseconds.
 *
 * @param input A number of milliseconds, or a string such as `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`.
 * @returns The duration in milliseconds (may be fractional).
 * @throws {TypeError} When `input` is neither a number nor a string, or the string has no known unit.
 *
 * @example
 * ```ts
 * import { parseDuration } from "timebound";
 * console.assert(parseDuration("1.5s") === 1500);
 * console.assert(parseDuration("2m") === 120_000);
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
      `Cannot parse duration ${JSON.stringify(input)}: expected a number and a unit (ms, s, m, h), like "250ms" or "1.5s"`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
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
