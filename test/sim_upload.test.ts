/**
 * The upload simulator on worked cases whose numbers can be checked by hand
 * (slow start, token bucket, tarpit, silent proxy, the seed's story), the
 * watchdog behaviours it exposes, its parameter validation and its trace.
 * The properties are in sim_upload_props.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  formatBytes,
  formatTrace,
  goodputBitsPerSecond,
  simulateUpload,
  type UploadParams,
} from "../sim/mod.ts";

const MIB = 1024 * 1024;
/** Float slack for times built from a few fluid segments. */
const EPS_MS = 1e-6;

/** The seed's story: 2.4 MB through a residential proxy with a 2 Mbit/s uplink, from India. */
const SEED_PATH = {
  payloadBytes: 2_400_000,
  clientBitsPerSecond: 100e6,
  proxyBitsPerSecond: 2e6,
  rttMs: 150,
  sendBufferBytes: 512 * 1024,
} satisfies UploadParams;

describe("worked cases", () => {
  it("slow start: four RTT rounds of 10, 20, 40, 80 segments, then the link", () => {
    // 10 Mbit/s = 1250 B/ms, RTT 100 ms: BDP 125 kB. Rounds send 14 480 ×
    // (1, 2, 4, 8) B, each within its RTT; round 5 (231 680 B) would outlast
    // it, so from 400 ms the link is saturated. 1 MB − 217 200 B at 1250 B/ms
    // = 626.24 ms; the last ACK comes one RTT later.
    const common = {
      payloadBytes: 1_000_000,
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      rttMs: 100,
      wireOverhead: false,
    };
    const r = simulateUpload(common);
    expect(r.outcome).toBe("ok");
    expect(r.elapsedMs).toBeCloseTo(400 + 626.24 + 100, 6);
    // Without slow start: S / R + RTT.
    expect(simulateUpload({ ...common, slowStart: false }).elapsedMs).toBeCloseTo(900, 6);
  });

  it("token bucket: the burst passes at the client's rate, the rest at the sustained rate", () => {
    // While tokens last, 100 Mbit/s; afterwards 2 Mbit/s. The burst's bytes
    // come for free: T = (S − burst) / sustained = 1.4 MB / 250 B/ms.
    const r = simulateUpload({
      payloadBytes: 2_400_000,
      clientBitsPerSecond: 100e6,
      proxyBitsPerSecond: 2e6,
      proxyBurstBytes: 1_000_000,
      slowStart: false,
      wireOverhead: false,
      timeouts: { total: false },
    });
    expect(r.elapsedMs).toBeCloseTo(5600, 6);
  });

  it("a token bucket with a peak rate: the burst drains at peak − sustained", () => {
    // Peak 10 Mbit/s (1250 B/ms), sustained 2 Mbit/s (250 B/ms), bucket 1 MB:
    // empty after 1 MB / 1000 B/ms = 1000 ms, having sent 1.25 MB.
    const r = simulateUpload({
      payloadBytes: 2_400_000,
      clientBitsPerSecond: 100e6,
      proxyBitsPerSecond: 2e6,
      proxyBurstBytes: 1_000_000,
      proxyPeakBitsPerSecond: 10e6,
      slowStart: false,
      wireOverhead: false,
      timeouts: { total: false },
    });
    expect(r.elapsedMs).toBeCloseTo(1000 + 1_150_000 / 250, 6);
  });

  it("store-and-forward adds the two links; streaming takes the narrower", () => {
    const path = {
      payloadBytes: 1_000_000,
      clientBitsPerSecond: 8e6, // 1000 B/ms
      proxyBitsPerSecond: 2e6, // 250 B/ms
      rttMs: 50,
      slowStart: false,
      wireOverhead: false,
      timeouts: { total: false },
    } as const;
    expect(simulateUpload(path).elapsedMs).toBeCloseTo(4000 + 50, 6);
    const saf = simulateUpload({ ...path, proxyMode: "store-and-forward" });
    expect(saf.elapsedMs).toBeCloseTo(1000 + 4000 + 50, 6);
    // The client's part is over (acknowledged by the proxy) long before the response.
    expect(saf.uploadEndMs).toBeLessThan(1000);
  });

  it("wire overhead: 1448 payload bytes per 1514 on the wire", () => {
    const path = {
      payloadBytes: 1_000_000,
      clientBitsPerSecond: 2e6,
      proxyBitsPerSecond: 2e6,
      slowStart: false,
      timeouts: { total: false },
    } as const;
    expect(simulateUpload(path).elapsedMs).toBeCloseTo((4000 * 1514) / 1448, 6);
    expect(simulateUpload({ ...path, wireOverhead: false }).elapsedMs).toBeCloseTo(4000, 6);
  });

  it("a send buffer below the bandwidth-delay product caps throughput at 2/3 of it per RTT", () => {
    // 100 Mbit/s × 200 ms = 2.5 MB in flight needed; a 192 KiB buffer keeps
    // 128 KiB queued at least, so 131 072 B per 200 ms.
    const r = simulateUpload({
      payloadBytes: 1_310_720,
      clientBitsPerSecond: 100e6,
      proxyBitsPerSecond: 100e6,
      rttMs: 200,
      sendBufferBytes: 192 * 1024,
      slowStart: false,
      timeouts: { total: false },
    });
    expect(r.elapsedMs).toBeCloseTo(10 * 200 + 200, 6);
  });

  it("a tarpit is caught by write-idle one limit after the last pull", () => {
    const r = simulateUpload({
      payloadBytes: 5_000_000,
      chunkBytes: 16 * 1024,
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      sendBufferBytes: 256 * 1024,
      serverReadBytesPerSecond: 10_000,
      tarpitAtMs: 2000,
      slowStart: false,
      wireOverhead: false,
      timeouts: { writeIdle: 3000, total: false },
      trace: true,
    });
    expect(r.phase).toBe("writeIdle");
    // Before the tarpit the writer wakes every (256 KiB / 3) / 1250 B/ms ≈ 70 ms,
    // so the last pull is at most that long before it.
    expect(r.stallDetectionMs).toBeGreaterThan(3000 - 70);
    expect(r.stallDetectionMs).toBeLessThanOrEqual(3000);
    const lastPull = r.trace!.filter((e) => e.pulls > 0).at(-1)!;
    expect(r.elapsedMs).toBeCloseTo(lastPull.atMs + 3000, 6);
  });

  it("minRate fires on a tarpit that still lets some bytes through", () => {
    const r = simulateUpload({
      payloadBytes: 2_000_000,
      chunkBytes: 16 * 1024,
      clientBitsPerSecond: 10e6,
      proxyBitsPerSecond: 10e6,
      sendBufferBytes: 64 * 1024,
      serverReadBytesPerSecond: 5_000,
      timeouts: { minRate: { bytes: 50_000, per: "5s" }, total: false },
    });
    expect(r.outcome).toBe("timeout");
    expect(r.phase).toBe("minRate");
  });

  it("a silent proxy with no limit set hangs: the seed's 'silent killer'", () => {
    const r = simulateUpload({ ...SEED_PATH, dropAtMs: 3000, timeouts: { total: false } });
    expect(r.outcome).toBe("hang");
    expect(r.elapsedMs).toBe(Number.POSITIVE_INFINITY);
    expect(r.bytesDelivered).toBeGreaterThan(0);
    expect(r.bytesDelivered).toBeLessThan(SEED_PATH.payloadBytes);
    expect(r.phase).toBeUndefined();
  });

  it("a drop after the response changes nothing", () => {
    const clean = simulateUpload(SEED_PATH);
    const late = simulateUpload({ ...SEED_PATH, dropAtMs: clean.elapsedMs });
    expect(late).toStrictEqual(clean);
  });

  it("the default limits are createFetch's: total 30 s", () => {
    const r = simulateUpload({ ...SEED_PATH, proxyBitsPerSecond: 0.5e6 });
    expect(r.outcome).toBe("timeout");
    expect(r.phase).toBe("total");
    expect(r.elapsedMs).toBeCloseTo(30_000, 6);
  });
});

describe("the seed's story (README, examples/sim-upload.ts)", () => {
  it("the whole-body 10 s timeout fails: 2.4 MB need 10 s on the wire alone", () => {
    const r = simulateUpload({ ...SEED_PATH, chunkBytes: 2_400_000, timeouts: { total: "10s" } });
    expect(r.outcome).toBe("timeout");
    expect(r.phase).toBe("total");
    expect(r.elapsedMs).toBe(10_000);
  });

  it("chunked under an idle write limit, it finishes in about S/B + slow start + RTT", () => {
    const r = simulateUpload({
      ...SEED_PATH,
      chunkBytes: 16 * 1024,
      timeouts: { writeIdle: "3s", total: "60s" },
    });
    expect(r.outcome).toBe("ok");
    expect(r.elapsedMs).toBeGreaterThan(10_000);
    expect(r.elapsedMs).toBeLessThan(10_500);
  });

  it("but no chunk size beats a total deadline shorter than payload / bandwidth", () => {
    for (const chunkBytes of [1024, 8 * 1024, 16 * 1024, 64 * 1024, 2_400_000]) {
      const r = simulateUpload({ ...SEED_PATH, chunkBytes, timeouts: { total: "9s" } });
      expect(r.phase).toBe("total");
    }
  });

  it("and a whole-body write under an idle limit is a total limit in disguise", () => {
    // One 2.4 MB chunk is one pull: the next comes only when all of it is
    // in the kernel, ~8 s later.
    const r = simulateUpload({
      ...SEED_PATH,
      chunkBytes: 2_400_000,
      timeouts: { writeIdle: "3s" },
    });
    expect(r.phase).toBe("writeIdle");
    expect(r.elapsedMs).toBe(3000);
  });

  it("and a silent proxy is caught by write-idle instead of hanging", () => {
    const r = simulateUpload({
      ...SEED_PATH,
      chunkBytes: 16 * 1024,
      dropAtMs: 4000,
      timeouts: { writeIdle: "3s", total: "60s" },
    });
    expect(r.phase).toBe("writeIdle");
    expect(r.stallDetectionMs).toBeLessThanOrEqual(3000 + SEED_PATH.rttMs / 2 + EPS_MS);
  });
});

describe("send-buffer growth (issue 12, item 2)", () => {
  it("starts at 2 × 10 segments of skb memory and grows with cwnd towards the ceiling", () => {
    // tcp_init_buffer_space expands the 16 KiB tcp_wmem[1] at once to
    // 2 × 10 × 4352 = 87,040 B of skb memory: 85,340 B of payload at 98 %.
    const { trace } = simulateUpload({ ...SEED_PATH, chunkBytes: 16 * 1024, trace: true });
    expect(trace![0]!.queuedBytes).toBe(85_340);
    expect(formatTrace(trace!, { state: false }).split("\n")[1]).toBe(
      "    0.000 s  block     send buffer full (85.3 kB): 13.0 kB of chunk 6 wait",
    );
    // Fixed, the whole 512 KiB ceiling is there at t = 0.
    const fixed = simulateUpload({ ...SEED_PATH, sendBufferGrowth: false, trace: true });
    expect(fixed.trace![0]!.queuedBytes).toBe(512 * 1024);
  });

  it("through a proxy that holds bytes, hands a small body to the kernel after a few RTTs (the proxy lab: 0.35–0.6 s)", () => {
    // The proxy lab's queue is the proxy's (its buffer, beyond the client):
    // what is out grows with cwnd, so nothing stops slow start. Its times
    // count from the fetch call, one handshake (an RTT) before the model's 0.
    const path = {
      payloadBytes: 500_000,
      chunkBytes: 16 * 1024,
      clientBitsPerSecond: 1e9,
      proxyBitsPerSecond: 2e6,
      proxyBufferBytes: 1_000_000,
      rttMs: 100,
      timeouts: { total: false },
    } satisfies UploadParams;
    const grown = simulateUpload(path);
    expect(grown.uploadEndMs).toBeGreaterThan(250);
    expect(grown.uploadEndMs).toBeLessThan(500);
    const fixed = simulateUpload({ ...path, sendBufferGrowth: false });
    expect(fixed.uploadEndMs).toBe(0);
    expect(grown.elapsedMs).toBe(fixed.elapsedMs);
  });

  it("with the bottleneck on the sender's own link, the buffer stops with cwnd at 2 × (pipe + 2 skbs) (the kernel lab: cwnd 44–48, pull gaps 0.55 s)", () => {
    // tbf on the client's egress (the kernel lab, bench/recorded/linktrace-
    // outage-hold-cwnd.json): TCP small queues keep what is out at the pipe
    // plus two skbs, and slow start stops at twice that: cwnd 44–48
    // segments sampled, 2 × (16.5 + 4) = 41 in the model, a buffer of
    // 5.9 × 41 segments (~350 kB). The writer keeps pulling every ~0.6 s
    // (real: longest gap 551–563 ms), instead of the buffer taking the
    // whole 2.4 MB by 1.6 s as an unbounded cwnd would.
    const path = {
      payloadBytes: 2_400_000,
      chunkBytes: 16 * 1024,
      clientBitsPerSecond: 2e6,
      proxyBitsPerSecond: 2e6,
      rttMs: 100,
      sendBufferBytes: 4 * MIB,
      timeouts: { total: false },
      trace: true,
    } satisfies UploadParams;
    const r = simulateUpload(path);
    const pulls = r
      .trace!.filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
      .map((e) => e.atMs);
    const gaps = pulls.slice(1).map((t, i) => t - pulls[i]!);
    expect(Math.max(...gaps)).toBeGreaterThan(500);
    expect(Math.max(...gaps)).toBeLessThan(700);
    expect(r.uploadEndMs).toBeGreaterThan(8000);
    const blocks = r.trace!.filter((e) => e.event === "block").map((e) => e.queuedBytes);
    expect(Math.max(...blocks)).toBeLessThan(400_000);
    // The bytes on the wire do not change: only when the writer pulls.
    const fixed = simulateUpload({ ...path, sendBufferGrowth: false });
    expect(r.elapsedMs).toBe(fixed.elapsedMs);
    // The same rate beyond the client (a modem's or a proxy's queue, not the
    // sender's qdisc): what is out grows with cwnd, and the buffer with it.
    const beyond = simulateUpload({
      ...path,
      clientBitsPerSecond: 10e9,
      proxyBitsPerSecond: 2e6,
    });
    expect(beyond.uploadEndMs).toBeLessThan(3000);
    expect(beyond.elapsedMs).toBeCloseTo(r.elapsedMs, -2);
  });
});

describe("a proxy that holds bytes (issue 12, item 1)", () => {
  // The proxy lab's healthy case: 5 MB through a 2 Mbit/s uplink, RTT 100 ms.
  const LAB = {
    payloadBytes: 5_000_000,
    chunkBytes: 16 * 1024,
    clientBitsPerSecond: 100e6,
    proxyBitsPerSecond: 2e6,
    rttMs: 100,
    sendBufferBytes: 4 * MIB,
  } satisfies UploadParams;

  it("a streaming proxy's buffer lets the client leg run ahead: writeIdle 3 s holds, as it did for real", () => {
    const r = simulateUpload({
      ...LAB,
      sendBufferGrowth: false,
      proxyBufferBytes: 1_000_000,
      timeouts: { writeIdle: "3s", total: "60s" },
    });
    expect(r.outcome).toBe("ok");
    // S / uplink: 5 MB at 1.91 Mbit/s of payload, ~21 s (reality: 21 s).
    expect(r.elapsedMs).toBeGreaterThan(20_900);
    expect(r.elapsedMs).toBeLessThan(21_200);
  });

  it("a black hole behind a streaming proxy is swallowed by its buffer: only total ends it", () => {
    const r = simulateUpload({
      ...LAB,
      proxyBufferBytes: 1_000_000,
      upstreamDropAtMs: 2000,
      timeouts: { writeIdle: "3s", total: "60s" },
    });
    expect(r.phase).toBe("total");
    expect(r.stallDetectionMs).toBe(58_000);
    // The server got what passed before the drop, about 2 s at the uplink.
    expect(r.bytesDelivered).toBeLessThan(500_000);
  });

  it("a tarpit behind it caps the pipe only once the proxy's buffer and the server's window are full", () => {
    const tarpit = {
      ...LAB,
      payloadBytes: 20_000_000,
      // Pull gaps of 0.73 s: only a stall outlasts writeIdle.
      sendBufferBytes: 512 * 1024,
      proxyBufferBytes: 1_000_000,
      serverReadBytesPerSecond: 1000,
      tarpitAtMs: 1000,
      receiveWindowBytes: 1_000_000,
      timeouts: { writeIdle: "3s", total: false },
    } satisfies UploadParams;
    const r = simulateUpload({ ...tarpit, trace: true });
    expect(r.phase).toBe("writeIdle");
    // Acknowledged by the proxy: what the server read, plus its window, plus the proxy's buffer.
    const acked = r.trace!.at(-1)!.ackedBytes;
    expect(acked).toBeGreaterThan(2_000_000);
    expect(acked).toBeLessThan(2_500_000);
    // Without the proxy's buffer (one pipe) it stalls at once.
    const onePipe = simulateUpload({
      ...tarpit,
      proxyBufferBytes: undefined,
      receiveWindowBytes: undefined,
    });
    expect(onePipe.elapsedMs).toBeLessThan(r.elapsedMs);
  });

  it("behind a tarpit the server's kernel holds tcp_rmem[1] (128 KiB) unless a window is given", () => {
    // A slow reader never grows its receive buffer (tcp_rcv_space_adjust
    // follows what the application reads); with 6 MiB here a 5 MB body
    // vanished into the server and only headers or total ended it, where
    // the proxy lab's tinyproxy and nginx saw writeIdle at 3.6–5.5 s.
    const tarpit = {
      ...LAB,
      payloadBytes: 5_000_000,
      sendBufferBytes: 512 * 1024,
      proxyBufferBytes: 800_000,
      serverReadBytesPerSecond: 20_000,
      timeouts: { writeIdle: "3s", headers: "25s", total: "35s" },
    } satisfies UploadParams;
    const byDefault = simulateUpload(tarpit);
    expect(byDefault).toEqual(simulateUpload({ ...tarpit, receiveWindowBytes: 128 * 1024 }));
    expect(byDefault.phase).toBe("writeIdle");
    expect(byDefault.elapsedMs).toBeLessThan(6000);
    const wide = simulateUpload({ ...tarpit, receiveWindowBytes: 6 * 1024 * 1024 });
    expect(wide.phase).not.toBe("writeIdle");
  });

  it("a proxy whose upstream send buffer wakes its writer at 2/3 drains the client in lumps of a third of it", () => {
    // The hold lab (sim/README.md): tinyproxy, 5 MB at 2 Mbit/s, its socket
    // buffers at 1 and 2 MiB; the healthy uploads' longest pull gap was
    // 1.55 s and 2.80 s, against 0.85 s in the model with a smooth drain.
    const path = {
      ...LAB,
      rttMs: 50,
      upstreamRttMs: 50,
      sendBufferBytes: 514_000,
      timeouts: { total: false },
      trace: true,
    } satisfies UploadParams;
    const uplinkBytesPerMs = goodputBitsPerSecond(path.proxyBitsPerSecond) / 8 / 1000;
    const longest = (r: ReturnType<typeof simulateUpload>) => {
      const t = r
        .trace!.filter((e) => (e.event === "write" && e.pulls > 0) || e.event === "body-end")
        .map((e) => e.atMs);
      return Math.max(...t.slice(1).map((x, i) => x - t[i]!));
    };
    const smooth = simulateUpload({ ...path, proxyBufferBytes: 3_300_000 });
    for (const sendBuffer of [1_028_000, 2_056_000]) {
      const lumpy = simulateUpload({
        ...path,
        proxyBufferBytes: 3_300_000,
        proxySendBufferBytes: sendBuffer,
      });
      // As long as ever (the uplink sets it), but pulls a lump apart.
      expect(lumpy.outcome).toBe("ok");
      expect(Math.abs(lumpy.elapsedMs - smooth.elapsedMs)).toBeLessThan(1);
      const lump = sendBuffer / 3 / uplinkBytesPerMs;
      expect(longest(lumpy)).toBeGreaterThanOrEqual(lump * 0.95);
      expect(longest(lumpy)).toBeLessThan(lump + longest(smooth));
      expect(lumpy.trace!.some((e) => e.detail.includes("in lumps of"))).toBe(true);
    }
  });

  it("rejects an upstream send buffer outside [4096, proxyBufferBytes]", () => {
    expect(() =>
      simulateUpload({ ...LAB, proxyBufferBytes: 1_000_000, proxySendBufferBytes: 2_000_000 }),
    ).toThrow(
      new RangeError(
        "Invalid option 'proxySendBufferBytes': expected at most 'proxyBufferBytes' (1000000), of which it is part, got 2000000",
      ),
    );
    expect(() => simulateUpload({ ...LAB, proxySendBufferBytes: 65_536 })).toThrow(
      new RangeError(
        "Invalid option 'proxySendBufferBytes': it is part of a streaming proxy's 'proxyBufferBytes', which is not set, got 65536",
      ),
    );
    for (const v of [0, 4095, 1.5, Number.NaN]) {
      expect(() =>
        simulateUpload({ ...LAB, proxyBufferBytes: 1_000_000, proxySendBufferBytes: v }),
      ).toThrow(/Invalid option 'proxySendBufferBytes'/);
    }
  });

  it("rejects a proxy buffer on a store-and-forward proxy, and an upstream leg without one", () => {
    expect(() =>
      simulateUpload({ ...LAB, proxyMode: "store-and-forward", proxyBufferBytes: 1 }),
    ).toThrow(
      new RangeError(
        `Invalid option 'proxyBufferBytes': a store-and-forward proxy holds the whole body, got 1 with proxyMode "store-and-forward"`,
      ),
    );
    expect(() => simulateUpload({ ...LAB, upstreamDropAtMs: 5 })).toThrow(
      new RangeError(
        "Invalid option 'upstreamDropAtMs': a streaming proxy needs 'proxyBufferBytes' to have an upstream leg, got 5",
      ),
    );
  });
});

describe("watchdog behaviours the simulator exposes", () => {
  it("headers counts from when the body is in the kernel, not from its delivery", () => {
    // With a fixed 4 MiB send buffer the whole 2.4 MB is handed over at
    // t = 0 (writeEnd), so a 5 s `headers` limit fires during a healthy
    // ~10 s upload, and write-idle never gets to guard it. (A growing
    // buffer takes it all at 1.75 s: the same, a little later.)
    const r = simulateUpload({
      ...SEED_PATH,
      sendBufferBytes: 4 * MIB,
      sendBufferGrowth: false,
      timeouts: { headers: "5s", writeIdle: "1s", total: "60s" },
    });
    expect(r.uploadEndMs).toBe(0);
    expect(r.phase).toBe("headers");
    expect(r.elapsedMs).toBeCloseTo(5000, 6);
  });

  it("a write-idle limit below the drain time of 1/3 of the buffer kills healthy uploads", () => {
    // 512 KiB / 3 at 2 Mbit/s (1.91 of payload) ≈ 0.73 s between pulls,
    // whatever the chunk size below that. The first gap is longer: the
    // first ACK comes an RTT late (0.88 s), and slow start's three rounds
    // make it 1.0 s. (A fixed buffer: one that grows has short gaps first.)
    for (const chunkBytes of [1024, 16 * 1024, 64 * 1024]) {
      const tight = simulateUpload({
        ...SEED_PATH,
        sendBufferGrowth: false,
        chunkBytes,
        timeouts: { writeIdle: "950ms", total: false },
      });
      expect(tight.phase).toBe("writeIdle");
      expect(tight.elapsedMs).toBe(950);
      const enough = simulateUpload({
        ...SEED_PATH,
        sendBufferGrowth: false,
        chunkBytes,
        timeouts: { writeIdle: "1050ms", total: false },
      });
      expect(enough.outcome).toBe("ok");
      const noSlowStart = simulateUpload({
        ...SEED_PATH,
        sendBufferGrowth: false,
        chunkBytes,
        slowStart: false,
        timeouts: { writeIdle: "900ms", total: false },
      });
      expect(noSlowStart.outcome).toBe("ok");
    }
  });

  it("a late timer still fires (on the next progress or its own late tick)", () => {
    const on = simulateUpload({
      ...SEED_PATH,
      chunkBytes: 16 * 1024,
      dropAtMs: 4000,
      timerLatenessMs: 50,
      seed: 7,
      timeouts: { writeIdle: "3s", total: false },
    });
    const exact = simulateUpload({
      ...SEED_PATH,
      chunkBytes: 16 * 1024,
      dropAtMs: 4000,
      timeouts: { writeIdle: "3s", total: false },
    });
    expect(on.phase).toBe("writeIdle");
    expect(on.elapsedMs).toBeGreaterThanOrEqual(exact.elapsedMs);
    expect(on.elapsedMs).toBeLessThanOrEqual(exact.elapsedMs + 50);
  });
});

describe("parameter validation", () => {
  const base: UploadParams = {
    payloadBytes: 1000,
    clientBitsPerSecond: 1e6,
    proxyBitsPerSecond: 1e6,
  };
  const cases: Array<[string, unknown, ErrorConstructor, string]> = [
    [
      "payloadBytes",
      0,
      RangeError,
      "Invalid option 'payloadBytes': expected an integer in [1, 9007199254740991], got 0",
    ],
    [
      "payloadBytes",
      1.5,
      RangeError,
      "Invalid option 'payloadBytes': expected an integer in [1, 9007199254740991], got 1.5",
    ],
    [
      "payloadBytes",
      "1000",
      TypeError,
      `Invalid option 'payloadBytes': expected an integer in [1, 9007199254740991], got "1000"`,
    ],
    [
      "chunkBytes",
      0,
      RangeError,
      "Invalid option 'chunkBytes': expected an integer in [1, 16777216], got 0",
    ],
    [
      "clientBitsPerSecond",
      Number.NaN,
      RangeError,
      "Invalid option 'clientBitsPerSecond': expected a finite number > 0, got NaN",
    ],
    [
      "proxyBitsPerSecond",
      Number.POSITIVE_INFINITY,
      RangeError,
      "Invalid option 'proxyBitsPerSecond': expected a finite number > 0, got Infinity",
    ],
    [
      "proxyBitsPerSecond",
      undefined,
      TypeError,
      "Invalid option 'proxyBitsPerSecond': expected a finite number > 0, got undefined",
    ],
    [
      "proxyMode",
      "buffered",
      RangeError,
      `Invalid option 'proxyMode': expected "streaming" or "store-and-forward", got "buffered"`,
    ],
    [
      "proxyMode",
      1,
      TypeError,
      `Invalid option 'proxyMode': expected "streaming" or "store-and-forward", got 1`,
    ],
    ["rttMs", -1, RangeError, "Invalid option 'rttMs': expected a finite number >= 0, got -1"],
    [
      "sendBufferBytes",
      100,
      RangeError,
      "Invalid option 'sendBufferBytes': expected an integer in [1024, 2147483647], got 100",
    ],
    [
      "receiveWindowBytes",
      0,
      RangeError,
      "Invalid option 'receiveWindowBytes': expected an integer >= 1, or Infinity (off), got 0",
    ],
    [
      "serverReadBytesPerSecond",
      0,
      RangeError,
      "Invalid option 'serverReadBytesPerSecond': expected a number > 0, or Infinity (off), got 0",
    ],
    [
      "dropAtMs",
      -5,
      RangeError,
      "Invalid option 'dropAtMs': expected a number >= 0, or Infinity (never), got -5",
    ],
    [
      "dropAtMs",
      Number.NaN,
      RangeError,
      "Invalid option 'dropAtMs': expected a number >= 0, or Infinity (never), got NaN",
    ],
    [
      "tarpitAtMs",
      Number.POSITIVE_INFINITY,
      RangeError,
      "Invalid option 'tarpitAtMs': expected a finite number >= 0, got Infinity",
    ],
    [
      "proxyBurstBytes",
      -1,
      RangeError,
      "Invalid option 'proxyBurstBytes': expected an integer in [0, 9007199254740991], got -1",
    ],
    [
      "proxyPeakBitsPerSecond",
      -1,
      RangeError,
      "Invalid option 'proxyPeakBitsPerSecond': expected a number > 0, or Infinity (off), got -1",
    ],
    [
      "slowStart",
      "yes",
      TypeError,
      `Invalid option 'slowStart': expected true or false, got "yes"`,
    ],
    ["wireOverhead", 1, TypeError, "Invalid option 'wireOverhead': expected true or false, got 1"],
    ["trace", null, TypeError, "Invalid option 'trace': expected true or false, got null"],
    [
      "seed",
      -1,
      RangeError,
      "Invalid option 'seed': expected an integer in [0, 4294967295], got -1",
    ],
    [
      "timerLatenessMs",
      -1,
      RangeError,
      "Invalid option 'timerLatenessMs': expected a finite number >= 0, got -1",
    ],
    [
      "timeouts",
      { total: 0 },
      RangeError,
      `Invalid option 'timeouts.total': expected a duration in (0, 2147483647] ms, as a number of ms or a string like "1.5s", got 0`,
    ],
    [
      "timeouts",
      { writeIdle: "soon" },
      TypeError,
      `Invalid option 'timeouts.writeIdle': expected a duration in (0, 2147483647] ms, as a number of ms or a string like "1.5s", got "soon"`,
    ],
    [
      "timeouts",
      { idle: 1 },
      TypeError,
      "Unknown option 'timeouts.idle': expected one of total, headers, readIdle, writeIdle, minRate",
    ],
    ["timeouts", [], TypeError, "Invalid option 'timeouts': expected an object, got an array"],
  ];
  for (const [key, value, type, message] of cases) {
    it(`${key}: ${String(value === undefined ? "missing" : (JSON.stringify(value) ?? value))}`, () => {
      const params = { ...base, [key]: value };
      if (value === undefined) delete (params as Record<string, unknown>)[key];
      expect(() => simulateUpload(params as UploadParams)).toThrow(type);
      expect(() => simulateUpload(params as UploadParams)).toThrow(message);
    });
  }

  it("rejects unknown keys, naming them", () => {
    expect(() => simulateUpload({ ...base, chunkSize: 1 } as UploadParams)).toThrow(
      new TypeError(
        "Unknown option 'chunkSize': expected one of payloadBytes, chunkBytes, clientBitsPerSecond, proxyBitsPerSecond, proxyMode, rttMs, sendBufferBytes, sendBufferGrowth, receiveWindowBytes, serverReadBytesPerSecond, tarpitAtMs, dropAtMs, proxyBufferBytes, proxySendBufferBytes, upstreamRttMs, upstreamDropAtMs, proxyBurstBytes, proxyPeakBitsPerSecond, linkTrace, linkTraceStartMs, linkTraceOff, slowStart, wireOverhead, timeouts, timerLatenessMs, seed, trace, lossRate, lossBurstSegments, gilbertElliott, lostTransmissions, congestionControl",
      ),
    );
  });

  it("rejects a non-object", () => {
    expect(() => simulateUpload(null as unknown as UploadParams)).toThrow(
      new TypeError("Invalid option 'params': expected an object, got null"),
    );
  });

  it("takes Infinity for the limits that can be off", () => {
    const r = simulateUpload({
      ...base,
      receiveWindowBytes: Number.POSITIVE_INFINITY,
      serverReadBytesPerSecond: Number.POSITIVE_INFINITY,
      dropAtMs: Number.POSITIVE_INFINITY,
      proxyPeakBitsPerSecond: Number.POSITIVE_INFINITY,
    });
    expect(r).toStrictEqual(simulateUpload(base));
  });
});

describe("trace", () => {
  it("prints like a socket trace: writes, blocks, wakes, the timer that fired", () => {
    const { trace } = simulateUpload({
      ...SEED_PATH,
      sendBufferGrowth: false,
      chunkBytes: 16 * 1024,
      dropAtMs: 4000,
      timeouts: { writeIdle: "3s", total: "60s" },
      trace: true,
    });
    const text = formatTrace(trace!);
    const lines = text.split("\n");
    expect(lines[0]).toBe(
      "    0.000 s  write     pulled chunks 1–33, 524 kB into the send buffer  [buffer 524 kB, acked 0 B, server 0 B]",
    );
    expect(lines[1]).toMatch(
      /^ {4}0\.000 s {2}block {5}send buffer full \(524 kB\): 16\.4 kB of chunk 33 wait/,
    );
    expect(text).toMatch(/0\.999 s {2}wake {6}queue drained to 2\/3 of the buffer: writable/);
    expect(text).toMatch(/4\.000 s {2}drop {6}the proxy goes silent: no ACKs, no RST/);
    expect(lines.at(-1)).toMatch(
      /^ {4}6\.601 s {2}timeout {3}writeIdle \(3000 ms\) fired: 1\.36 MB pulled {2}\[/,
    );
    expect(formatTrace(trace!, { state: false }).split("\n")[0]).toBe(
      "    0.000 s  write     pulled chunks 1–33, 524 kB into the send buffer",
    );
  });

  it("ends a hang with a hang line", () => {
    const { trace } = simulateUpload({
      ...SEED_PATH,
      dropAtMs: 3000,
      timeouts: { total: false },
      trace: true,
    });
    expect(trace!.at(-1)!.event).toBe("hang");
    expect(formatTrace(trace!, { state: false }).split("\n").at(-1)).toBe(
      "      never  hang      stalled with no limit set: a real request waits forever",
    );
  });

  it("formats bytes with three significant digits", () => {
    for (const [n, text] of [
      [0, "0 B"],
      [999, "999 B"],
      [1000, "1.00 kB"],
      [16_384, "16.4 kB"],
      [999_499, "999 kB"],
      [999_500, "1.00 MB"],
      [2_400_000, "2.40 MB"],
    ] as const) {
      expect(formatBytes(n)).toBe(text);
    }
  });
});
