/**
 * Option parsers for the `timebound` command line: each turns text as people
 * write it (`2.4MB`, `2Mbit`, `30s`, `off`) into a number, or throws
 * commander's InvalidArgumentError with a one-line reason; commander then
 * prefixes the flag's name, and cli.ts exits with status 2.
 *
 * @module
 */
import { InvalidArgumentError } from "commander";

export { InvalidArgumentError as InvalidArgument } from "commander";

import { MAX_TIMER_MS } from "../../src/duration.ts";
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from "../../src/policy.ts";
import { formatSize, parseRate, parseSize, parseTime } from "../units.ts";

function wrap<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** A size: `2.4MB`, `64KiB`. */
export const size = wrap((text: string) => {
  const n = parseSize(text);
  if (n <= 0) throw new Error(`expected a size > 0, got ${JSON.stringify(text)}`);
  return n;
});

/**
 * A chunk size for `upload.chunkSize`: `16KiB`, `64KiB`, within the range
 * `createFetch` accepts (MIN_CHUNK_SIZE to MAX_CHUNK_SIZE).
 */
export const chunkSize = wrap((text: string) => {
  const n = parseSize(text);
  if (!(n >= MIN_CHUNK_SIZE && n <= MAX_CHUNK_SIZE)) {
    throw new Error(
      `expected a chunk size from ${formatSize(MIN_CHUNK_SIZE)} to ${formatSize(MAX_CHUNK_SIZE)} (${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes), got ${JSON.stringify(text)}`,
    );
  }
  return n;
});

/** A size that may be 0: `0B`, `10KB`. */
export const sizeOrZero = wrap(parseSize);

/** A link rate in bits/s: `2Mbit`, `512kbps`, `1MB/s`. */
export const rate = wrap((text: string) => {
  const n = parseRate(text);
  if (n <= 0) throw new Error(`expected a rate > 0, got ${JSON.stringify(text)}`);
  return n;
});

/** A duration in ms: `30s`, `250ms`, `2min` (the library's grammar, see parseDuration). */
export const time = wrap((text: string) => {
  const n = parseTime(text);
  if (!(n > 0 && n <= MAX_TIMER_MS)) {
    throw new Error(`expected a duration in (0, 24.8 days], got ${JSON.stringify(text)}`);
  }
  return n;
});

/** A duration that may be 0: `0s`. */
export const timeOrZero = wrap((text: string) => parseTime(text));

/** A limit: a duration, or `off` (returned as `false`). */
export const limit = wrap((text: string): number | false => {
  if (/^\s*(off|none|false)\s*$/i.test(text)) return false;
  return time(text);
});

/** A comma-separated list of `item`s: `8KiB,64KiB`. */
export function list<T>(item: (text: string) => T): (text: string) => T[] {
  return (text) => {
    const parts = text.split(",").map((p) => p.trim());
    if (parts.some((p) => p === "")) {
      throw new InvalidArgumentError(
        `expected a comma-separated list, got ${JSON.stringify(text)}`,
      );
    }
    return parts.map(item);
  };
}

/** An integer in [min, max]. */
export function integer(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `expected an integer in [${min}, ${max}], got ${JSON.stringify(text)}`,
      );
    }
    return n;
  };
}

/**
 * The number a decimal written with its point moved `shift` places left:
 * `decimalShift("99.9", 2)` is the nearest double to 0.999, exactly what
 * the literal `0.999` is. Dividing by 100 instead gives 0.9990000000000001,
 * which a success rate of 3996/4000 (shown as 99.90 %) falls short of.
 */
export function decimalShift(digits: string, shift: number): number {
  const dot = digits.indexOf(".");
  const whole = dot < 0 ? digits : digits.slice(0, dot);
  const frac = dot < 0 ? "" : digits.slice(dot + 1);
  const all = whole + frac;
  const point = whole.length - shift;
  const text =
    point <= 0 ? `0.${"0".repeat(-point)}${all}` : `${all.slice(0, point)}.${all.slice(point)}`;
  return Number(text.endsWith(".") ? text.slice(0, -1) : text);
}

/** A probability in [0, 1] (or open bounds): `0.999`, `99.9%` (the same number). */
export function probability(open = false): (text: string) => number {
  return (text) => {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%?)\s*$/.exec(text);
    const n = m ? decimalShift(m[1]!, m[2] ? 2 : 0) : Number.NaN;
    const ok = open ? n > 0 && n < 1 : n >= 0 && n <= 1;
    if (!ok) {
      const range = open ? "(0, 1)" : "[0, 1]";
      throw new InvalidArgumentError(
        `expected a probability in ${range}, like 0.999 or 99.9%, got ${JSON.stringify(text)}`,
      );
    }
    return n;
  };
}

/** A positive number: `0.6`, `40`. */
export function positive(text: string): number {
  const n = Number(text);
  if (!/^\s*\d*\.?\d+\s*$/.test(text) || !(n > 0) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`expected a number > 0, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** A number ≥ 0: `0`, `0.6`. */
export function nonNegative(text: string): number {
  const n = Number(text);
  if (!/^\s*\d*\.?\d+\s*$/.test(text) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`expected a number >= 0, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** Mean segments per loss burst: a number ≥ 1, `4`, `2.5`. */
export function lossBurst(text: string): number {
  const n = Number(text);
  if (!/^\s*\d*\.?\d+\s*$/.test(text) || !(n >= 1) || !Number.isFinite(n)) {
    throw new InvalidArgumentError(
      `expected a number of segments >= 1, like 4, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** A rate floor: `16KB/5s` (at least 16 KB in every 5 s). */
export const minRate = wrap((text: string): { bytes: number; per: number } | false => {
  if (/^\s*(off|none|false)\s*$/i.test(text)) return false;
  const m = /^\s*([^/]+)\/([^/]+)$/.exec(text);
  if (!m) throw new Error(`expected bytes per window, like "16KB/5s", got ${JSON.stringify(text)}`);
  return { bytes: parseSize(m[1]!), per: parseTime(m[2]!) };
});

/** Workers: a count or `auto`. */
export function workers(text: string): number | "auto" {
  if (text.trim() === "auto") return "auto";
  return integer(1, 256)(text);
}
