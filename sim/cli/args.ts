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

import { parseRate, parseSize, parseTime } from "../units.ts";

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

/** A size that may be 0: `0B`, `10KB`. */
export const sizeOrZero = wrap(parseSize);

/** A link rate in bits/s: `2Mbit`, `512kbps`, `1MB/s`. */
export const rate = wrap((text: string) => {
  const n = parseRate(text);
  if (n <= 0) throw new Error(`expected a rate > 0, got ${JSON.stringify(text)}`);
  return n;
});

/** A duration in ms: `30s`, `250ms`, `2min`. */
export const time = wrap((text: string) => {
  const n = parseTime(text);
  if (!(n > 0 && n <= 2_147_483_647)) {
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

/** A probability in [0, 1] (or open bounds): `0.999`, `99.9%`. */
export function probability(open = false): (text: string) => number {
  return (text) => {
    const m = /^\s*(\d*\.?\d+)\s*(%?)\s*$/.exec(text);
    const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : Number.NaN;
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
