/**
 * The simulator against a real proxy (issue 12, item 6), a subset small
 * enough for every `npm test` (~30 s): tinyproxy 1.11 from Debian in the
 * kernel lab's proxy namespace (test/kernel/proxies.ts), its uplink shaped
 * by `tc tbf`, 50 ms RTT each side; uploads from Node 24's fetch through
 * `createFetch`, compared with `simulateUpload` and tinyproxy's preset
 * (test/kernel/validate-proxy.ts). One healthy upload, and one whose
 * upstream becomes a black hole at 2 s: the proxy keeps accepting until its
 * buffer is full, then `writeIdle` fires, in reality and in the simulator.
 * The full grid is `node bench/sim-proxy.ts` (results in sim/README.md).
 *
 * Needs root, `ip netns`, `tc tbf`, /dev/net/tun and tinyproxy (`.ci/run`
 * installs it as root); skipped with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, labSupport } from "./kernel/lab.ts";
import { proxySupport, type RunningProxy, startProxy } from "./kernel/proxies.ts";
import {
  LEG_RTT_MS,
  measureProxyCase,
  type ProxyCase,
  prepareProxyLab,
  probeLegRtt,
} from "./kernel/validate-proxy.ts";

const lab_ = labSupport();
const proxy_ = proxySupport("tinyproxy");
const support = lab_.ok ? proxy_ : lab_;
const why = support.ok ? "" : support.reason;
if (!support.ok) console.warn(`sim_proxy: proxy validation skipped: ${why}`);

describe.skipIf(!support.ok)(
  `simulator vs a real proxy${support.ok ? "" : ` (skipped: ${why})`}`,
  () => {
    let lab: Lab;
    let proxy: RunningProxy;
    let rtt: number;
    beforeAll(async () => {
      lab = await Lab.open({ proxy: true });
      prepareProxyLab(lab);
      await lab.setDelay(LEG_RTT_MS);
      rtt = await probeLegRtt(lab);
      proxy = await startProxy(lab, "tinyproxy");
    }, 60_000);
    afterAll(async () => {
      await proxy?.stop();
      await lab?.close();
    }, 30_000);

    const check = (c: ProxyCase) => async () => {
      const r = await measureProxyCase(lab, proxy, c, rtt);
      const line = `tinyproxy, ${c.scenario}, ${c.payloadBytes / 1e6} MB at ${c.rateBitsPerSecond / 1e6} Mbit/s: real ${r.real} at ${(r.realMs / 1000).toFixed(2)} s, simulator ${r.sim} at ${(r.simMs / 1000).toFixed(2)} s (tolerance ±${(r.toleranceMs / 1000).toFixed(2)} s: the longest pull gap + RTT)`;
      console.log(`sim_proxy: ${line}`);
      expect(r.real, line).toBe(r.sim);
      expect(Math.abs(r.realMs - r.simMs), line).toBeLessThanOrEqual(r.toleranceMs);
    };

    it(
      "a healthy 2.4 MB upload at 5 Mbit/s",
      check({ scenario: "healthy", payloadBytes: 2.4e6, rateBitsPerSecond: 5e6 }),
      30_000,
    );
    it(
      "a 5 MB upload whose upstream becomes a black hole at 2 s is caught by writeIdle once the proxy is full",
      check({ scenario: "upstream", payloadBytes: 5e6, rateBitsPerSecond: 5e6 }),
      30_000,
    );
  },
);
