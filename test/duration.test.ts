/**
 * One duration grammar for the library and the command line: parseDuration
 * reads what people and the CLI write (`2min` included), and formatDuration
 * writes every duration so that parseDuration reads back the very same
 * number.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parseTime } from "../sim/units.ts";
import { formatDuration, MAX_TIMER_MS, parseDuration } from "../src/duration.ts";

describe("parseDuration and the CLI's parseTime share one grammar", () => {
  const accepted: [string, number][] = [
    ["250ms", 250],
    ["1.5s", 1500],
    ["90s", 90_000],
    ["2m", 120_000],
    ["2min", 120_000],
    ["5min", 300_000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    [" 10 s ", 10_000],
    [".5s", 500],
  ];
  for (const [text, ms] of accepted) {
    it(`${JSON.stringify(text)} → ${ms} ms in both`, () => {
      expect(parseDuration(text)).toBe(ms);
      expect(parseTime(text)).toBe(ms);
    });
  }

  const rejected = ["", "30", "5 sec", "-1s", "1e3ms", "s", "1.s", "2M", "2MIN", "1min 30 s"];
  for (const text of rejected) {
    it(`${JSON.stringify(text)} is rejected by both, with the same message`, () => {
      const message = `Cannot parse duration ${JSON.stringify(text)}: expected a number and a unit (ms, s, m or min, h), like "250ms" or "1.5s"`;
      expect(() => parseDuration(text)).toThrow(new TypeError(message));
      expect(() => parseTime(text)).toThrow(new TypeError(message));
    });
  }
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [0.25, "0.25ms"],
    [250, "250ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    // 1.005 × 1000 is 1004.9999999999999 in binary floating point: "1.005s"
    // reads back as that number, so 1005 ms is written in ms.
    [1005, "1005ms"],
    [1004.9999999999999, "1.005s"],
    [30_000, "30s"],
    [59_999, "59.999s"],
    [60_000, "1m"],
    [90_000, "90s"],
    [120_000, "2m"],
    [150_000, "150s"],
    [3_600_000, "1h"],
    [5_400_000, "90m"],
    [MAX_TIMER_MS, "2147483.647s"],
  ];
  for (const [ms, text] of cases) {
    it(`${ms} ms → ${JSON.stringify(text)}, read back exactly`, () => {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toBe(ms);
    });
  }

  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1e-7]) {
    it(`rejects ${bad}`, () => expect(() => formatDuration(bad)).toThrow(RangeError));
  }

  prop.prop([fc.integer({ min: 0, max: MAX_TIMER_MS })])(
    "whole milliseconds read back exactly",
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );

  prop.prop([fc.double({ min: 0.001, max: MAX_TIMER_MS, noNaN: true })])(
    "fractional milliseconds read back exactly",
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );

  prop.prop([
    fc.oneof(
      fc.integer({ min: 1, max: 9999 }).map((n) => `${n}ms`),
      fc.integer({ min: 1, max: 9999 }).map((n) => `${n / 10}s`),
      fc.integer({ min: 1, max: 500 }).map((n) => `${n}min`),
      fc.integer({ min: 1, max: 500 }).map((n) => `${n / 2}m`),
      fc.integer({ min: 1, max: 500 }).map((n) => `${n}h`),
    ),
  ])("what people type keeps its value through format and parse", (text) => {
    const ms = parseDuration(text);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
