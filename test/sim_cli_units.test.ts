/**
 * Units as people write them (sim/units.ts), which the CLI's flags accept:
 * sizes, link rates and durations, parsed strictly and formatted for tables.
 */
import { describe, expect, it } from "vitest";
import {
  formatRate,
  formatSize,
  formatTime,
  parseRate,
  parseSize,
  parseTime,
} from "../sim/units.ts";

describe("parsing", () => {
  const sizes: [string, number][] = [
    ["2.4MB", 2_400_000],
    ["2.4 mb", 2_400_000],
    ["64KiB", 65_536],
    ["64KB", 64_000],
    ["1GiB", 1024 ** 3],
    ["512B", 512],
    ["0B", 0],
    [".5MB", 500_000],
  ];
  for (const [text, bytes] of sizes)
    it(`size ${text} = ${bytes}`, () => expect(parseSize(text)).toBe(bytes));

  const rates: [string, number][] = [
    ["2Mbit", 2e6],
    ["2Mbps", 2e6],
    ["2Mbit/s", 2e6],
    ["2 mbit", 2e6],
    ["512kbit", 512e3],
    ["1MB/s", 8e6],
    ["1.5MBps", 12e6],
    ["100bit/s", 100],
  ];
  for (const [text, bits] of rates)
    it(`rate ${text} = ${bits} bit/s`, () => expect(parseRate(text)).toBe(bits));

  const times: [string, number][] = [
    ["30s", 30_000],
    ["250ms", 250],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["2min", 120_000],
    ["1h", 3_600_000],
  ];
  for (const [text, ms] of times)
    it(`time ${text} = ${ms} ms`, () => expect(parseTime(text)).toBe(ms));

  const bad: [(t: string) => number, string, string][] = [
    [parseSize, "2.4", 'Cannot parse size "2.4": expected a number and a unit'],
    [parseSize, "2.4XB", 'Cannot parse size "2.4XB"'],
    [parseSize, "-1MB", 'Cannot parse size "-1MB"'],
    [
      parseRate,
      "2M",
      'Cannot parse rate "2M": expected a number and a unit (bit/s or B/s with k, M, G)',
    ],
    [parseRate, "2MB", 'Cannot parse rate "2MB"'],
    [
      parseTime,
      "30",
      'Cannot parse duration "30": expected a number and a unit (ms, s, m or min, h)',
    ],
    [parseTime, "soon", 'Cannot parse duration "soon"'],
  ];
  for (const [parse, text, message] of bad) {
    it(`${parse.name}(${JSON.stringify(text)}) throws`, () => {
      expect(() => parse(text)).toThrow(TypeError);
      expect(() => parse(text)).toThrow(message);
    });
  }
});

describe("formatting", () => {
  const cases: [string, string][] = [
    [formatTime(0.25), "0.25 ms"],
    [formatTime(850), "850 ms"],
    [formatTime(12_500), "12.5 s"],
    [formatTime(127_000), "2 min 7 s"],
    [formatTime(59_999_999), "16 h 40 min"],
    [formatTime(51_230_000), "14 h 14 min"],
    [formatTime(86_400_000 * 30), "30 days"],
    [formatTime(Infinity), "∞"],
    [formatTime(Number.NaN), "–"],
    [formatSize(2_400_000), "2.4 MB"],
    [formatSize(65_536), "64 KiB"],
    [formatSize(1_409_024), "1.41 MB"],
    [formatSize(1024 ** 2), "1 MiB"],
    [formatSize(999), "999 B"],
    [formatRate(2e6), "2 Mbit/s"],
    [formatRate(1.91e9), "1.91 Gbit/s"],
  ];
  for (const [actual, expected] of cases) it(`→ ${expected}`, () => expect(actual).toBe(expected));
});
