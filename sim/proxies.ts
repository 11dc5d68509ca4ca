/**
 * Presets for real proxies (issue 12): how much of a request body each
 * holds and how it forwards it, measured in the proxy lab
 * (test/kernel/proxies.ts, `bench/sim-proxy.ts`): Debian's squid 5.7,
 * tinyproxy 1.11.1 and nginx 1.22.1, through a
 * `tc tbf`-shaped 2 and 5 Mbit/s uplink, 50 ms RTT each side of the proxy
 * (configurations in test/kernel/proxies.ts: defaults but for squid's buffer).
 *
 * Spread one into {@linkcode UploadParams}:
 * `simulateUpload({ ...path, ...PROXY_PRESETS.squid, timeouts })`.
 *
 * @module
 */
import type { UploadParams } from "./upload.ts";

/** The proxies measured. */
export type ProxyPresetName = "squid" | "tinyproxy" | "nginx-streaming" | "nginx-buffered";

/** What a preset sets. */
export type ProxyPreset = Required<Pick<UploadParams, "proxyMode">> &
  Pick<UploadParams, "proxyBufferBytes">;

/**
 * - `squid`: squid 5.7 as a forward proxy (plain HTTP, absolute form),
 *   `client_request_buffer_max_size 64 MB` (not its 512 KiB default, see
 *   below).
 * - `tinyproxy`: tinyproxy 1.11.1 as a forward proxy.
 * - `nginx-streaming`: nginx 1.22.1, `proxy_request_buffering off`.
 * - `nginx-buffered`: nginx 1.22.1, `proxy_request_buffering on` (its
 *   default): the whole body is read (past `client_body_buffer_size`, into
 *   a temporary file) before nginx connects upstream.
 *
 * `proxyBufferBytes` of a streaming proxy is what the lab's path held while
 * the uplink was the bottleneck: bytes acknowledged to the client (`ss`:
 * bytes_acked) minus bytes the server had read, sampled 1.5–12 s into each
 * upload (`bench/sim-proxy.ts` prints every sample). It is not a constant
 * of the proxy: it moves with the rate and the upstream's congestion
 * control (socket buffers autotune): tinyproxy's median was 0.23 MB at
 * 2 Mbit/s with Reno, 0.69 MB with BBR, 1.64 MB at 5 Mbit/s; nginx's 0.36,
 * 0.76 and 0.48 MB. Each preset is the one number that put the most lab
 * cases in the right phase (sim/README.md, "Proxy presets and the proxy lab").
 * squid's is its configured `client_request_buffer_max_size` (64 MB in the
 * lab: Debian's 512 KiB default aborts such uploads).
 */
export const PROXY_PRESETS: Readonly<Record<ProxyPresetName, Readonly<ProxyPreset>>> = {
  squid: { proxyMode: "streaming", proxyBufferBytes: 64 * 1024 * 1024 },
  tinyproxy: { proxyMode: "streaming", proxyBufferBytes: 1_000_000 },
  "nginx-streaming": { proxyMode: "streaming", proxyBufferBytes: 600_000 },
  "nginx-buffered": { proxyMode: "store-and-forward" },
};

/** The preset names, for a command line's choices. */
export const PROXY_PRESET_NAMES = Object.keys(PROXY_PRESETS) as ProxyPresetName[];
