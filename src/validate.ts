/**
 * Validation primitives for options: each checks one value and throws a
 * TypeError (wrong type, unknown key) or RangeError (bad value) whose message
 * names the option and the accepted range.
 *
 * @module
 */
import { type Duration, describe, MAX_TIMER_MS, parseDuration } from "./duration.ts";

export const DURATION_RANGE = `a duration in (0, ${MAX_TIMER_MS}] ms, as a number of ms or a string like "1.5s"`;

/**
 * Validates a duration option and returns milliseconds.
 *
 * @throws {TypeError} for a wrong type or unparseable string; {@link RangeError} for a value out of range.
 */
export function durationOption(name: string, value: unknown): number {
  let ms: number;
  try {
    ms = parseDuration(value as Duration);
  } catch {
    throw new TypeError(
      `Invalid option '${name}': expected ${DURATION_RANGE}, got ${describe(value)}`,
    );
  }
  if (!(ms > 0 && ms <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Invalid option '${name}': expected ${DURATION_RANGE}, got ${describe(value)}`,
    );
  }
  return ms;
}

export function integerOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid option '${name}': expected an integer in [${min}, ${max}], got ${describe(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid option '${name}': expected an integer in [${min}, ${max}], got ${describe(value)}`,
    );
  }
  return value;
}

export function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid option '${name}': expected a finite number > 0, got ${describe(value)}`,
    );
  }
  if (!(value > 0 && Number.isFinite(value))) {
    throw new RangeError(
      `Invalid option '${name}': expected a finite number > 0, got ${describe(value)}`,
    );
  }
  return value;
}

export function plainObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Invalid option '${name}': expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function checkKeys(
  where: string,
  obj: Record<string, unknown>,
  allowed: ReadonlySet<string>,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      const prefix = where ? `${where}.` : "";
      throw new TypeError(
        `Unknown option '${prefix}${key}': expected one of ${[...allowed].join(", ")}`,
      );
    }
  }
}

/** Validates an optional function option. */
export function optionalFunction(
  name: string,
  value: unknown,
): ((...args: never[]) => unknown) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(`Invalid option '${name}': expected a function, got ${describe(value)}`);
  }
  return value as (...args: never[]) => unknown;
}
