/**
 * Sizes, link rates and durations as people write and read them: `2.4MB`,
 * `64KiB`, `2Mbit`, `30s`. Parsing is strict (a unit is required, so `2`
 * is never silently bytes or bits); formatting picks a readable unit and
 * writes `∞` for an unbounded time.
 *
 * Decimal prefixes are powers of 1000 and binary ones (`KiB`, `MiB`) of
 * 1024, as IEC 80000-13 defines them: `2.4MB` is 2,400,000 bytes.
 *
 * @module
 */
import { DURATION_UNITS, describe, parseDuration } from "../src/duration.ts";

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
const SIZE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)\s*$/i;

/**
 * Parses a size in bytes: `"2.4MB"` (2,400,000), `"64KiB"` (65,536),
 * `"512B"`. Case does not matter; a unit is required.
 *
 * @throws {TypeError} When the text is not a number followed by a size unit.
 *
 * @example
 * ```ts
 * import { parseSize } from "timebound/sim";
 * console.assert(parseSize("2.4MB") === 2_400_000);
 * console.assert(parseSize("64KiB") === 65_536);
 * ```
 */
export function parseSize(text: string): number {
  const m = typeof text === "string" ? SIZE.exec(text) : null;
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new TypeError(
      `Cannot parse size ${describe(text)}: expected a number and a unit (B, KB, MB, GB, KiB, MiB, GiB), like "2.4MB" or "64KiB"`,
    );
  }
  return Math.round(Number(m[1]) * unit);
}

const RATE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmg]?)(bit\/s|bit|bps|b\/s|B\/s|Bps)\s*$/i;
const RATE_PREFIX: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9 };

/**
 * Parses a link rate in bits per second, as ISPs and `tc` quote them:
 * `"2Mbit"`, `"2Mbps"`, `"2Mbit/s"`, `"512kbit"`. A rate in bytes
 * (`"2.5MB/s"`, capital B) is converted to bits.
 *
 * @throws {TypeError} When the text is not a number followed by a rate unit.
 *
 * @example
 * ```ts
 * import { parseRate } from "timebound/sim";
 * console.assert(parseRate("2Mbit") === 2e6);
 * console.assert(parseRate("512kbps") === 512e3);
 * console.assert(parseRate("1MB/s") === 8e6);
 * ```
 */
export function parseRate(text: string): number {
  const m = typeof text === "string" ? RATE.exec(text) : null;
  if (!m) {
    throw new TypeError(
      `Cannot parse rate ${describe(text)}: expected a number and a unit (bit/s or B/s with k, M, G), like "2Mbit" or "1.5MB/s"`,
    );
  }
  const unit = m[3]!;
  const prefix = RATE_PREFIX[m[2]!.toLowerCase()]!;
  // "B/s" and "Bps" with a capital B are bytes; "b/s" and "bps" are bits.
  const bytes = unit === "B/s" || unit === "Bps";
  return Number(m[1]) * prefix * (bytes ? 8 : 1);
}

/**
 * Parses a duration in milliseconds: `"250ms"`, `"1.5s"`, `"2m"`, `"2min"`,
 * `"1h"`. The library's own grammar ({@linkcode parseDuration}), so a value
 * that works on the command line works in `createFetch` and back. A unit is
 * required (a bare `30` is ambiguous on a command line; the library's
 * strings require one too).
 *
 * @throws {TypeError} When the text is not a number followed by a time unit.
 *
 * @example
 * ```ts
 * import { parseTime } from "timebound/sim";
 * console.assert(parseTime("30s") === 30_000);
 * console.assert(parseTime("2min") === 120_000);
 * ```
 */
export function parseTime(text: string): number {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse duration ${describe(text)}: expected a number and a unit (${DURATION_UNITS}), like "250ms" or "30s"`,
    );
  }
  return parseDuration(text);
}

function trim(x: number, digits: number): string {
  // Up to `digits` significant digits, without trailing zeros.
  return String(Number(x.toPrecision(digits)));
}

/**
 * Formats milliseconds for people: `850 ms`, `12.5 s`, `4 min 10 s`,
 * `11 h 23 min`, `∞`.
 *
 * @example
 * ```ts
 * import { formatTime } from "timebound/sim";
 * console.assert(formatTime(850) === "850 ms");
 * console.assert(formatTime(12_500) === "12.5 s");
 * console.assert(formatTime(40_960_000) === "11 h 23 min");
 * console.assert(formatTime(Infinity) === "∞");
 * ```
 */
export function formatTime(ms: number): string {
  if (ms === Infinity) return "∞";
  if (Number.isNaN(ms)) return "–";
  if (ms < 10) return `${trim(ms, 2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${trim(ms / 1000, 3)} s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.round((ms - m * 60_000) / 1000);
    return s === 60 ? `${m + 1} min` : s ? `${m} min ${s} s` : `${m} min`;
  }
  if (ms < 86_400_000 * 2) {
    const h = Math.floor(ms / 3_600_000);
    const m = Math.round((ms - h * 3_600_000) / 60_000);
    return m === 60 ? `${h + 1} h` : m ? `${h} h ${m} min` : `${h} h`;
  }
  const days = ms / 86_400_000;
  return days < 1000 ? `${trim(days, 3)} days` : `${days.toExponential(1)} days`;
}

/**
 * Formats a byte count: `2.4 MB`, `64 KiB` (binary when exact), `512 B`.
 *
 * @example
 * ```ts
 * import { formatSize } from "timebound/sim";
 * console.assert(formatSize(2_400_000) === "2.4 MB");
 * console.assert(formatSize(65_536) === "64 KiB");
 * console.assert(formatSize(512) === "512 B");
 * ```
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return bytes > 0 ? "∞" : "–";
  if (bytes >= 1024 && bytes % 1024 === 0) {
    for (const [unit, f] of [
      ["GiB", 1024 ** 3],
      ["MiB", 1024 ** 2],
      ["KiB", 1024],
    ] as const) {
      // Binary only when exact and under 1024 of the unit: "64 KiB", not "1376 KiB".
      if (bytes >= f && bytes % f === 0 && bytes / f < 1024) return `${bytes / f} ${unit}`;
    }
  }
  for (const [unit, f] of [
    ["GB", 1e9],
    ["MB", 1e6],
    ["kB", 1e3],
  ] as const) {
    if (bytes >= f) return `${trim(bytes / f, 3)} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}

/**
 * Formats a link rate in bits per second: `2 Mbit/s`, `640 kbit/s`.
 *
 * @example
 * ```ts
 * import { formatRate } from "timebound/sim";
 * console.assert(formatRate(2e6) === "2 Mbit/s");
 * console.assert(formatRate(640_000) === "640 kbit/s");
 * ```
 */
export function formatRate(bitsPerSecond: number): string {
  for (const [unit, f] of [
    ["Gbit/s", 1e9],
    ["Mbit/s", 1e6],
    ["kbit/s", 1e3],
  ] as const) {
    if (bitsPerSecond >= f) return `${trim(bitsPerSecond / f, 3)} ${unit}`;
  }
  return `${trim(bitsPerSecond, 3)} bit/s`;
}
