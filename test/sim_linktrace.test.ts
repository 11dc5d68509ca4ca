/**
 * Link traces (issue 12, item 4): Mahimahi's `mm-link` format parsed and
 * rejected line by line, the generators, the rate schedule the fluid model
 * runs on, and uploads over links that change, on worked cases. The
 * properties are in sim_linktrace_props.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  constantTrace,
  formatLinkTrace,
  formatTrace,
  LINK_TRACE_GRID_MS,
  onOffTrace,
  parseLinkTrace,
  rateScheduleOf,
  simulateUpload,
  stepTrace,
  traceBitsPerSecond,
  type UploadParams,
} from "../sim/mod.ts";

describe("parseLinkTrace", () => {
  it("reads one opportunity per line; repeats are packets in the same ms", () => {
    const t = parseLinkTrace("0\n1\n1\n1\n5\n", "a.trace");
    expect(t.opportunitiesMs).toEqual([0, 1, 1, 1, 5]);
    expect(t.name).toBe("a.trace");
    // Five 1,500-byte packets every 5 ms: 12 Mbit/s.
    expect(traceBitsPerSecond(t)).toBe(12e6);
  });

  it("takes CRLF line ends, surrounding blanks and a file with no final newline", () => {
    expect(parseLinkTrace("1\r\n 2 \r\n3").opportunitiesMs).toEqual([1, 2, 3]);
  });

  it("formats back to the same text", () => {
    const text = "2\n2\n7\n";
    expect(formatLinkTrace(parseLinkTrace(text))).toBe(text);
  });

  const bad: Array<[string, string]> = [
    ["", "Invalid t.trace: no timestamps (empty trace)"],
    ["\n", "Invalid t.trace line 1: empty (one timestamp in ms per line)"],
    ["1\n\n2\n", "Invalid t.trace line 2: empty (one timestamp in ms per line)"],
    ["1\n2.5\n", 'Invalid t.trace line 2: expected a whole number of ms >= 0, got "2.5"'],
    ["1\n-2\n", 'Invalid t.trace line 2: expected a whole number of ms >= 0, got "-2"'],
    ["1\nabc\n", 'Invalid t.trace line 2: expected a whole number of ms >= 0, got "abc"'],
    ["1e3\n", 'Invalid t.trace line 1: expected a whole number of ms >= 0, got "1e3"'],
    ["1 2\n", 'Invalid t.trace line 1: expected a whole number of ms >= 0, got "1 2"'],
    ["5\n7\n6\n", "Invalid t.trace line 3: timestamps must never decrease, got 6 after 7"],
    ["0\n0\n", "Invalid t.trace: the trace lasts 0 ms (its last timestamp is 0)"],
    [
      "86400001\n",
      "Invalid t.trace line 1: expected a timestamp <= 86400000 ms (a day), got 86400001",
    ],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parseLinkTrace(text, "t.trace")).toThrow(new SyntaxError(message));
    });
  }
});

describe("generators", () => {
  it("constantTrace: a whole number of packets per loop at the rate", () => {
    // 2 Mbit/s: one 1,500-byte packet every 6 ms.
    const t = constantTrace(2e6, 6000);
    expect(t.opportunitiesMs.length).toBe(1000);
    expect(t.opportunitiesMs.slice(0, 3)).toEqual([6, 12, 18]);
    expect(t.opportunitiesMs.at(-1)).toBe(6000);
    expect(traceBitsPerSecond(t)).toBe(2e6);
  });

  it("onOffTrace: on first, then nothing, then the loop's closing packet", () => {
    const t = onOffTrace({ onMs: 100, offMs: 900, bitsPerSecond: 12e6 });
    expect(t.opportunitiesMs.length).toBe(101);
    expect(t.opportunitiesMs[99]).toBe(100);
    expect(t.opportunitiesMs[100]).toBe(1000);
  });

  it("stepTrace: steady stretches one after the other", () => {
    const t = stepTrace([
      { ms: 12, bitsPerSecond: 6e6 },
      { ms: 100, bitsPerSecond: 0 },
      { ms: 6, bitsPerSecond: 12e6 },
    ]);
    expect(t.opportunitiesMs).toEqual([2, 4, 6, 8, 10, 12, 113, 114, 115, 116, 117, 118]);
  });

  const bad: Array<[() => unknown, ErrorConstructor, string]> = [
    [
      () => onOffTrace({ onMs: 0, offMs: 5, bitsPerSecond: 1e6 }),
      RangeError,
      "Invalid option 'onMs': expected a whole number of ms in [1, 86400000], got 0",
    ],
    [
      () => onOffTrace({ onMs: 10, offMs: 1.5, bitsPerSecond: 1e6 }),
      RangeError,
      "Invalid option 'offMs': expected a whole number of ms in [0, 86400000], got 1.5",
    ],
    [
      () => onOffTrace({ onMs: 10, offMs: 5, bitsPerSecond: Number.NaN }),
      RangeError,
      "Invalid option 'bitsPerSecond': expected bits/s in [1, 1.44e11], got NaN",
    ],
    [
      () => constantTrace("2Mbit" as unknown as number),
      TypeError,
      `Invalid option 'bitsPerSecond': expected bits/s in [1, 1.44e11], got "2Mbit"`,
    ],
    [
      () => stepTrace([]),
      TypeError,
      "Invalid option 'steps': expected 1 to 1000000 steps { ms, bitsPerSecond }, got 0 steps",
    ],
    [
      () => stepTrace([{ ms: 10, bitsPerSecond: -1 }]),
      RangeError,
      "Invalid option 'steps[0].bitsPerSecond': expected bits/s in [1, 1.44e11], got -1",
    ],
  ];
  for (const [make, type, message] of bad) {
    it(`rejects: ${message}`, () => {
      expect(make).toThrow(type);
      expect(make).toThrow(message);
    });
  }
});

describe("rate schedule", () => {
  it("meets the staircase every grid step and merges runs of one rate", () => {
    // 12 Mbit/s for 1 s, off for 3 s: two pieces, then the closing packet's step.
    const t = onOffTrace({ onMs: 1000, offMs: 3000, bitsPerSecond: 12e6 });
    const s = rateScheduleOf(t, 1500);
    expect([...s.startsMs]).toEqual([0, 1000, 4000 - LINK_TRACE_GRID_MS]);
    expect([...s.bytesPerMs]).toEqual([1500, 0, 1500 / LINK_TRACE_GRID_MS]);
    expect(s.periodMs).toBe(4000);
  });

  it("delivers exactly the trace's packets per loop (no drift over long uploads)", () => {
    const t = parseLinkTrace("3\n3\n7\n19\n19\n19\n40\n61\n");
    const s = rateScheduleOf(t, 1448);
    let bytes = 0;
    for (let i = 0; i < s.startsMs.length; i++) {
      const end = i + 1 < s.startsMs.length ? s.startsMs[i + 1]! : s.periodMs;
      bytes += s.bytesPerMs[i]! * (end - s.startsMs[i]!);
    }
    expect(bytes).toBeCloseTo(8 * 1448, 6);
  });
});

/** 2.4 MB through a streaming proxy whose uplink is the trace (payload = 1,500 B a packet). */
const PATH = {
  payloadBytes: 2_400_000,
  chunkBytes: 16_384,
  clientBitsPerSecond: 100e6,
  proxyBitsPerSecond: Number.POSITIVE_INFINITY,
  rttMs: 100,
  wireOverhead: false,
} satisfies UploadParams;

describe("uploads over links that change", () => {
  it("a steady trace is the steady link: the same time to the response", () => {
    // 2 Mbit/s in 6,000 ms loops holds exactly 1,000 packets: the same rate.
    const traced = simulateUpload({ ...PATH, linkTrace: constantTrace(2e6, 6000) });
    const steady = simulateUpload({ ...PATH, proxyBitsPerSecond: 2e6 });
    expect(traced.outcome).toBe("ok");
    // The trace's packets come on a 6 ms beat, sampled every 20 ms: within a packet.
    expect(Math.abs(traced.elapsedMs - steady.elapsedMs)).toBeLessThan(6);
  });

  it("with wire overhead a packet carries 1,448 payload bytes, a tc frame counts 1,514", () => {
    const traced = simulateUpload({
      ...PATH,
      wireOverhead: true,
      linkTrace: constantTrace(2e6, 6000),
    });
    // The same payload rate: the trace counts 1,500-byte packets, tc 1,514-byte frames.
    const steady = simulateUpload({
      ...PATH,
      wireOverhead: true,
      proxyBitsPerSecond: 2e6 * (1514 / 1500),
    });
    expect(Math.abs(traced.elapsedMs - steady.elapsedMs)).toBeLessThan(6);
  });

  it("an outage longer than writeIdle while the buffer is full: writeIdle fires in it, and the trace says the link is off", () => {
    // 2 Mbit/s for 3 s, then off for 5 s; a 256 KiB send buffer stays full.
    const linkTrace = onOffTrace({ onMs: 3000, offMs: 5000, bitsPerSecond: 2e6 });
    const r = simulateUpload({
      ...PATH,
      sendBufferBytes: 256 * 1024,
      linkTrace,
      timeouts: { writeIdle: "2s", total: "60s" },
      trace: true,
    });
    expect(r.outcome).toBe("timeout");
    expect(r.phase).toBe("writeIdle");
    expect(r.elapsedMs).toBeGreaterThan(3000);
    expect(r.elapsedMs).toBeLessThan(3000 + PATH.rttMs + 2000 + 1);
    const text = formatTrace(r.trace ?? [], { state: false });
    expect(text).toMatch(
      /3\.000 s {2}link {6}the link is off \(link trace\): nothing gets through for 4\.980 s/,
    );
    // Without writeIdle the upload waits the outage out and finishes.
    const patient = simulateUpload({ ...PATH, sendBufferBytes: 256 * 1024, linkTrace });
    expect(patient.outcome).toBe("ok");
    expect(patient.elapsedMs).toBeGreaterThan(8000 + 9600);
  });

  it("linkTraceStartMs starts the request inside the trace: here, in the outage", () => {
    const linkTrace = onOffTrace({ onMs: 3000, offMs: 5000, bitsPerSecond: 2e6 });
    const r = simulateUpload({
      ...PATH,
      linkTrace,
      linkTraceStartMs: 4000,
      timeouts: { headers: "1s" },
    });
    const at0 = simulateUpload({ ...PATH, linkTrace, timeouts: { headers: "1s" } });
    // 4 s of outage first: the same upload ends at least that much later.
    expect(r.elapsedMs).toBeGreaterThan(at0.elapsedMs);
  });

  it("composes with the token bucket: the bucket is a shaper in series with the trace", () => {
    const linkTrace = constantTrace(12e6);
    const shaped = simulateUpload({
      ...PATH,
      linkTrace,
      proxyBitsPerSecond: 2e6,
      proxyBurstBytes: 500_000,
      slowStart: false,
    });
    // The bucket drains at 12 − 2 Mbit/s: 600 kB go in 0.4 s at the trace's
    // 12 Mbit/s, then 1.8 MB at 2 Mbit/s in 7.2 s; the last ACK one RTT later.
    const burst = 500_000 / (12e6 / 8 - 2e6 / 8);
    const expected = burst + (2_400_000 - burst * (12e6 / 8)) / (2e6 / 8);
    expect(shaped.elapsedMs / 1000).toBeCloseTo(expected + 0.1, 1);
  });

  it("store-and-forward: the trace is the proxy's upstream, the client leg is untouched", () => {
    const linkTrace = onOffTrace({ onMs: 3000, offMs: 5000, bitsPerSecond: 2e6 });
    const r = simulateUpload({
      ...PATH,
      proxyMode: "store-and-forward",
      linkTrace,
      timeouts: { writeIdle: "2s", total: "60s" },
      trace: true,
    });
    expect(r.outcome).toBe("ok");
    expect(r.uploadEndMs).toBeLessThan(1000);
  });

  it("ships the traces scripts/make-traces.mjs makes, byte for byte, and they parse", async () => {
    // Not resolved by the type checker (scripts/ is plain JavaScript).
    const script: string = "../scripts/make-traces.mjs";
    const { traces } = (await import(script)) as { traces: () => Record<string, string> };
    const made = traces();
    expect(Object.keys(made).sort()).toEqual(["residential-uplink", "steady-2mbit", "wifi-onoff"]);
    for (const [name, text] of Object.entries(made)) {
      const file = readFileSync(new URL(`../sim/traces/${name}.trace`, import.meta.url), "utf8");
      expect(file).toBe(text);
      expect(parseLinkTrace(file, name).opportunitiesMs.length).toBeGreaterThan(0);
    }
  });

  it("the shipped Wi-Fi trace: a 2 s writeIdle fires in its 2.56 s outage, a 3 s one rides it out", () => {
    const text = readFileSync(new URL("../sim/traces/wifi-onoff.trace", import.meta.url), "utf8");
    const linkTrace = parseLinkTrace(text, "wifi-onoff");
    const path = { ...PATH, payloadBytes: 10_000_000, sendBufferBytes: 512 * 1024, linkTrace };
    const two = simulateUpload({ ...path, timeouts: { writeIdle: "2s", total: "120s" } });
    expect(two.phase).toBe("writeIdle");
    expect(two.elapsedMs).toBeGreaterThan(11_380);
    expect(two.elapsedMs).toBeLessThan(13_940);
    const three = simulateUpload({ ...path, timeouts: { writeIdle: "3s", total: "120s" } });
    expect(three.outcome).toBe("ok");
  });
});

describe("validation", () => {
  const trace = constantTrace(2e6);
  const cases: Array<[Partial<Record<keyof UploadParams, unknown>>, ErrorConstructor, string]> = [
    [
      { linkTrace: "steady.trace" },
      TypeError,
      `Invalid option 'linkTrace': expected a link trace ({ opportunitiesMs: number[] }, e.g. from parseLinkTrace), got "steady.trace"`,
    ],
    [
      { linkTrace: { opportunitiesMs: [] } },
      RangeError,
      "Invalid option 'linkTrace': a trace needs at least one timestamp above 0 (it loops after its last), got none",
    ],
    [
      { linkTrace: { opportunitiesMs: [3, 2] } },
      RangeError,
      "Invalid option 'linkTrace': opportunitiesMs[1] must be a whole number of ms in [3, 86400000] (never decreasing), got 2",
    ],
    [
      { linkTraceStartMs: 5, proxyBitsPerSecond: 2e6 },
      RangeError,
      "Invalid option 'linkTraceStartMs': it needs 'linkTrace', got 5",
    ],
    [
      { linkTrace: trace, linkTraceStartMs: -1 },
      RangeError,
      "Invalid option 'linkTraceStartMs': expected a finite number >= 0, got -1",
    ],
    [
      { proxyBitsPerSecond: Number.POSITIVE_INFINITY },
      RangeError,
      "Invalid option 'proxyBitsPerSecond': expected a finite number > 0, got Infinity",
    ],
    [
      { payloadBytes: 1e12, linkTrace: onOffTrace({ onMs: 1, offMs: 39, bitsPerSecond: 12e6 }) },
      RangeError,
      "Invalid option 'linkTrace': 1000000000000 bytes over this trace walk at least",
    ],
  ];
  for (const [extra, type, message] of cases) {
    it(message, () => {
      const params = { ...PATH, ...extra } as UploadParams;
      expect(() => simulateUpload(params)).toThrow(type);
      expect(() => simulateUpload(params)).toThrow(message);
    });
  }
});
