/**
 * Advice runs as printed: every `createFetch({ … })` the command line can
 * print is evaluated and handed to the real createFetch, with durations
 * from milliseconds to days, limits switched off, and chunk sizes from the
 * smallest to the largest accepted. Also the parsers and marks behind the
 * advice: percentages read exactly, chunk sizes out of range rejected with
 * the range (the same range in the CLI and the library), ✔ only with
 * confidence, and probe's floors.
 */
import { fc, it as prop } from "@fast-check/vitest";
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import * as arg from "../sim/cli/args.ts";
import { TABLE_COLUMNS, table } from "../sim/cli/output.ts";
import { floorProposal, PROBE_FLOOR_MS } from "../sim/cli/probe.ts";
import { createFetchSnippet, type SnippetOptions } from "../sim/cli/snippet.ts";
import { recommendMark } from "../sim/cli.ts";
import { fromObservations } from "../sim/observations.ts";
import { MAX_TIMER_MS } from "../src/duration.ts";
import { createFetch } from "../src/mod.ts";
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, resolveOptions } from "../src/policy.ts";
import { evaluateSnippet } from "./_snippet.ts";

/** Evaluates the snippet, passes it to createFetch, and checks every value survived as given. */
function checkSnippet(o: SnippetOptions): void {
  const line = createFetchSnippet(o);
  const literal = evaluateSnippet(line);
  expect(() => createFetch(literal as never), line).not.toThrow();
  const { limits, upload } = resolveOptions(literal);
  for (const k of ["total", "headers", "readIdle", "writeIdle"] as const) {
    const v = o[k];
    if (v === undefined) continue;
    expect(limits[k], `${k} in ${line}`).toBe(v === false ? Number.POSITIVE_INFINITY : v);
  }
  if (o.upload) expect(upload.chunkSize, line).toBe(o.upload.chunkSize);
}

const DURATIONS = [
  0.5,
  1,
  250,
  999,
  1000,
  1005,
  1500,
  30_000,
  59_999,
  60_000,
  60_001,
  90_000,
  120_000,
  150_000,
  3_600_000,
  5_400_000,
  86_400_000,
  MAX_TIMER_MS,
];
const CHUNKS = [MIN_CHUNK_SIZE, 1025, 8 * 1024, 16 * 1024, 65_536, 1_000_000, MAX_CHUNK_SIZE];

describe("every createFetch snippet the CLI can print is accepted as printed", () => {
  it("recommend's shape: total and writeIdle (including ≥ 60 s and off) with a chunk size", () => {
    for (const total of [...DURATIONS, false as const, Number.POSITIVE_INFINITY]) {
      for (const writeIdle of [1000, 5000, 90_000, false as const]) {
        for (const chunkSize of CHUNKS) checkSnippet({ total, writeIdle, upload: { chunkSize } });
      }
    }
  });

  it("probe's shape: total, headers, readIdle and writeIdle, any subset", () => {
    for (const v of DURATIONS) {
      checkSnippet({ total: v });
      checkSnippet({ total: v, headers: v, readIdle: v });
      checkSnippet({ total: v, headers: v, readIdle: v, writeIdle: v });
    }
  });

  prop.prop([
    fc.record(
      {
        total: fc.oneof(
          fc.double({ min: 0.001, max: MAX_TIMER_MS, noNaN: true }),
          fc.constant(false as const),
        ),
        headers: fc.integer({ min: 1, max: MAX_TIMER_MS }),
        readIdle: fc.integer({ min: 1, max: MAX_TIMER_MS }),
        writeIdle: fc.oneof(fc.integer({ min: 1, max: MAX_TIMER_MS }), fc.constant(false as const)),
        upload: fc.record({ chunkSize: fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE }) }),
      },
      { requiredKeys: [] },
    ),
  ])("any limits in range, any chunk size in range", (o) => {
    checkSnippet(o);
  });

  it("writes durations as people read them", () => {
    expect(
      createFetchSnippet({ total: 90_000, writeIdle: 5000, upload: { chunkSize: 65_536 } }),
    ).toBe('createFetch({ total: "90s", writeIdle: "5s", upload: { chunkSize: 65536 } })');
    expect(
      createFetchSnippet({ total: 120_000, writeIdle: false, upload: { chunkSize: 16_384 } }),
    ).toBe('createFetch({ total: "2m", writeIdle: false, upload: { chunkSize: 16384 } })');
    expect(createFetchSnippet({ total: 830, headers: 250, readIdle: 1300 })).toBe(
      'createFetch({ total: "830ms", headers: "250ms", readIdle: "1.3s" })',
    );
  });
});

describe("percentages are read exactly", () => {
  const p = arg.probability(true);
  const same: [string, string][] = [
    ["99.9%", "0.999"],
    ["99.99%", "0.9999"],
    ["99.95%", "0.9995"],
    ["95%", "0.95"],
    ["50%", "0.5"],
    ["0.1%", "0.001"],
    [".5%", "0.005"],
    ["12.345%", "0.12345"],
  ];
  for (const [percent, fraction] of same) {
    it(`${percent} is the very number ${fraction}`, () => {
      expect(p(percent)).toBe(p(fraction));
      expect(p(percent)).toBe(Number(fraction));
    });
  }

  it("a success rate shown as 99.90 % meets --target 99.9% (not 0.9990000000000001)", () => {
    expect(99.9 / 100).not.toBe(0.999); // the bug this guards against
    expect(3996 / 4000 >= p("99.9%")).toBe(true);
    expect(999 / 1000 >= p("99.9%")).toBe(true);
  });

  prop.prop([fc.integer({ min: 1, max: 99_999 })])(
    "n / 1000 % is the literal of the same decimal",
    (n) => {
      const text = String(n / 1000);
      const fraction = String(n / 100_000);
      expect(p(`${text}%`)).toBe(Number(fraction));
    },
  );

  it("still rejects what is not a probability", () => {
    for (const bad of ["0%", "100%", "1", "0", "1.5", "-5%", "5%%", "abc", ""]) {
      expect(() => p(bad), bad).toThrow(InvalidArgumentError);
    }
    expect(arg.probability()("100%")).toBe(1);
    expect(arg.probability()("0%")).toBe(0);
  });
});

describe("chunk sizes below the minimum or above the maximum are rejected with the range", () => {
  const library = `an integer number of bytes in [1024, 16777216] (1 KiB to 16 MiB), or "auto"`;
  const cases: [unknown, typeof TypeError | typeof RangeError, string][] = [
    [0, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got 0`],
    [1, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got 1`],
    [100, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got 100`],
    [1023, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got 1023`],
    [1024.5, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got 1024.5`],
    [
      16 * 1024 * 1024 + 1,
      RangeError,
      `Invalid option 'upload.chunkSize': expected ${library}, got 16777217`,
    ],
    [Number.NaN, RangeError, `Invalid option 'upload.chunkSize': expected ${library}, got NaN`],
    ["64KiB", TypeError, `Invalid option 'upload.chunkSize': expected ${library}, got "64KiB"`],
  ];
  for (const [chunkSize, kind, message] of cases) {
    it(`createFetch({ upload: { chunkSize: ${JSON.stringify(chunkSize) ?? String(chunkSize)} } })`, () => {
      expect(() => createFetch({ upload: { chunkSize } } as never)).toThrow(new kind(message));
    });
  }

  it("createFetch accepts the bounds themselves", () => {
    for (const chunkSize of [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]) {
      expect(resolveOptions({ upload: { chunkSize } }).upload.chunkSize).toBe(chunkSize);
    }
  });

  const cli: [string, string | number][] = [
    ["512B", 'expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got "512B"'],
    ["1023B", 'expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got "1023B"'],
    ["1KB", 'expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got "1KB"'],
    ["17MiB", 'expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got "17MiB"'],
    ["0B", 'expected a chunk size from 1 KiB to 16 MiB (1024 to 16777216 bytes), got "0B"'],
    ["1KiB", 1024],
    ["1.5KB", 1500],
    ["16MiB", 16 * 1024 * 1024],
  ];
  for (const [text, expected] of cli) {
    it(`--chunk ${text}`, () => {
      if (typeof expected === "number") {
        expect(arg.chunkSize(text)).toBe(expected);
        expect(resolveOptions({ upload: { chunkSize: expected } }).upload.chunkSize).toBe(expected);
      } else {
        expect(() => arg.chunkSize(text)).toThrow(new InvalidArgumentError(expected));
      }
    });
  }
});

describe("recommend marks ✔ only when the interval meets the target", () => {
  it.each([
    [{ met: true, confident: true }, "✔"],
    [{ met: true, confident: false }, "?"],
    [{ met: false, confident: false }, "✘"],
  ])("%j → %s", (r, mark) => {
    expect(recommendMark(r)).toBe(mark);
  });
});

describe("probe's proposals are floored", () => {
  it(`limits from a fast local server are raised to ${PROBE_FLOOR_MS} ms and say so`, () => {
    const samples = Array.from({ length: 20 }, (_, i) => ({
      headersMs: 2 + (i % 3),
      bodyMs: 1,
      totalMs: 4 + (i % 3),
    }));
    const raw = fromObservations(samples);
    expect(raw.timeouts.total).toBeLessThan(PROBE_FLOOR_MS);
    const p = floorProposal(raw);
    expect(p.timeouts).toEqual({
      total: PROBE_FLOOR_MS,
      headers: PROBE_FLOOR_MS,
      readIdle: PROBE_FLOOR_MS,
    });
    expect(p.limits.total!.ms).toBe(PROBE_FLOOR_MS);
    expect(p.limits.total!.how).toContain("floored at 250 ms");
    expect(p.notes.join("\n")).toContain("a GC pause");
  });

  it("leaves limits above the floor alone", () => {
    const samples = Array.from({ length: 20 }, () => ({ headersMs: 400, totalMs: 900 }));
    const raw = fromObservations(samples);
    const p = floorProposal(raw);
    expect(p.timeouts).toEqual(raw.timeouts);
    expect(p.notes).toEqual(raw.notes);
  });
});

describe("tables", () => {
  it("one rule under the header, none between rows; headers wrap to the data's width", () => {
    const t = table(
      ["chunk", "total 1 min 30 s"],
      [
        ["8 KiB", "88.0 %"],
        ["16 KiB", "96.0 %"],
      ],
      [1],
    );
    expect(t.split("\n")).toEqual([
      "┌────────┬────────┐",
      "│ chunk  │  total │",
      "│        │  1 min │",
      "│        │   30 s │",
      "├────────┼────────┤",
      "│ 8 KiB  │ 88.0 % │",
      "│ 16 KiB │ 96.0 % │",
      "└────────┴────────┘",
    ]);
  });

  it(`a long text column wraps so the table fits ${TABLE_COLUMNS} columns`, () => {
    const label = "total 2 s, headers 1 s, 2 retries, breaker, and a very long tail of words";
    const t = table(
      ["client", ...Array.from({ length: 6 }, (_, i) => `n${i}`)],
      [[label, ...Array.from({ length: 6 }, () => "12.34 %")]],
    );
    for (const line of t.split("\n")) expect(line.length).toBeLessThanOrEqual(TABLE_COLUMNS);
    expect(t.replace(/[│ \n]+/g, " ")).toContain("total 2 s, headers 1 s,");
  });
});
