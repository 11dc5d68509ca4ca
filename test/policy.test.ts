import { describe, expect, it } from "vitest";
import { createFetch, parseDuration } from "../src/mod.ts";

describe("parseDuration", () => {
  it.each([
    [250, 250],
    ["250ms", 250],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    [" 10 s ", 10_000],
    [".5s", 500],
  ])("%j → %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(["", "5", "5 sec", "-1s", "1e3ms", "s", "1.s"])("rejects %j", (input) => {
    expect(() => parseDuration(input)).toThrow(TypeError);
  });
});

const RANGE = 'a duration in (0, 2147483647] ms, as a number of ms or a string like "1.5s"';

describe("createFetch validates every option at construction", () => {
  for (const name of ["total", "headers", "readIdle", "writeIdle"] as const) {
    it.each([
      [0, "0"],
      [-1, "-1"],
      [Number.NaN, "NaN"],
      [Number.POSITIVE_INFINITY, "Infinity"],
      [Number.NEGATIVE_INFINITY, "-Infinity"],
      [2 ** 31, "2147483648"],
      ["0ms", '"0ms"'],
      ["25d", null],
    ])(`${name}: %j is rejected`, (value, shown) => {
      const make = () => createFetch({ [name]: value });
      if (shown === null) {
        expect(make).toThrow(
          new TypeError(`Invalid option '${name}': expected ${RANGE}, got "25d"`),
        );
      } else {
        expect(make).toThrow(
          new RangeError(`Invalid option '${name}': expected ${RANGE}, got ${shown}`),
        );
      }
    });

    it(`${name}: a wrong type is a TypeError`, () => {
      expect(() => createFetch({ [name]: {} as never })).toThrow(
        new TypeError(`Invalid option '${name}': expected ${RANGE}, got an object`),
      );
    });

    it(`${name}: the largest timer delay and false are accepted`, () => {
      expect(() => createFetch({ [name]: 2 ** 31 - 1 })).not.toThrow();
      expect(() => createFetch({ [name]: false })).not.toThrow();
    });
  }

  it("rejects unknown keys, naming them (a typo must not silently disable a limit)", () => {
    expect(() => createFetch({ totl: 5 } as never)).toThrow(
      new TypeError(
        "Unknown option 'totl': expected one of total, headers, readIdle, writeIdle, minRate, upload, onUploadProgress, events, retry, breaker, route, fetch, clock",
      ),
    );
    expect(() => createFetch({ upload: { chunksize: 1 } } as never)).toThrow(
      /^Unknown option 'upload.chunksize': expected one of threshold, chunkSize, uplinkBitsPerSecond$/,
    );
    expect(() => createFetch({ minRate: { bytes: 1, per: 1, window: 2 } } as never)).toThrow(
      /^Unknown option 'minRate.window'/,
    );
  });

  it.each([
    [
      { minRate: { bytes: 0, per: "1s" } },
      RangeError,
      "Invalid option 'minRate.bytes': expected a finite number > 0, got 0",
    ],
    [
      { minRate: { bytes: Number.NaN, per: "1s" } },
      RangeError,
      "Invalid option 'minRate.bytes': expected a finite number > 0, got NaN",
    ],
    [
      { minRate: { bytes: "1kb", per: "1s" } },
      TypeError,
      `Invalid option 'minRate.bytes': expected a finite number > 0, got "1kb"`,
    ],
    [
      { minRate: { bytes: 1 } },
      TypeError,
      `Invalid option 'minRate.per': expected ${RANGE}, got undefined`,
    ],
    [{ minRate: 5 }, TypeError, "Invalid option 'minRate': expected an object, got 5"],
    [
      { upload: { chunkSize: 0 } },
      RangeError,
      `Invalid option 'upload.chunkSize': expected an integer number of bytes in [1024, 16777216] (1 KiB to 16 MiB), or "auto", got 0`,
    ],
    [
      { upload: { chunkSize: 1.5 } },
      RangeError,
      `Invalid option 'upload.chunkSize': expected an integer number of bytes in [1024, 16777216] (1 KiB to 16 MiB), or "auto", got 1.5`,
    ],
    [
      { upload: { threshold: -1 } },
      RangeError,
      "Invalid option 'upload.threshold': expected an integer in [0, 9007199254740991], got -1",
    ],
    [
      { upload: { chunkSize: "auto" } },
      TypeError,
      `Invalid option 'upload.chunkSize': "auto" needs 'upload.uplinkBitsPerSecond' (the expected upstream bandwidth)`,
    ],
    [{ fetch: "fetch" }, TypeError, `Invalid option 'fetch': expected a function, got "fetch"`],
    [
      { clock: { now: () => 0 } },
      TypeError,
      "Invalid option 'clock': expected a Clock with now(), setTimer() and clearTimer(), missing setTimer()",
    ],
  ])("%j → %s", (options, kind, message) => {
    expect(() => createFetch(options as never)).toThrow(new kind(message));
  });

  it("chunkSize 'auto' sizes chunks from the uplink and writeIdle", () => {
    expect(() =>
      createFetch({ writeIdle: "1s", upload: { chunkSize: "auto", uplinkBitsPerSecond: 2e6 } }),
    ).not.toThrow();
  });

  it("per-call overrides are validated the same way, as a rejected call", async () => {
    const f = createFetch({
      total: "1s",
      fetch: () => Promise.reject(new Error("must not be called")),
    });
    await expect(f("http://127.0.0.1:9/", { timeouts: { total: -5 } })).rejects.toThrow(
      new RangeError(`Invalid option 'timeouts.total': expected ${RANGE}, got -5`),
    );
    await expect(f("http://127.0.0.1:9/", { timeouts: { totl: 5 } as never })).rejects.toThrow(
      new TypeError(
        "Unknown option 'timeouts.totl': expected one of total, headers, readIdle, writeIdle, minRate",
      ),
    );
  });
});
