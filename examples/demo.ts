/**
 * `npm run demo`: the basic example against the built-in demo upstream, on
 * local ports. It prints curl commands, sends a few requests itself and
 * shows, per route, the status, the phase that timed out and the
 * `Server-Timing` header — then exits. `--serve` keeps both servers running.
 *
 * Needs Node ≥ 22.18 / 24 (runs TypeScript directly); npm's `node` here is 24.
 */

import { listen } from "./_serve.ts";
import { basicApp } from "./basic.ts";
import { demoUpstream } from "./demo-upstream.ts";

const serveOn = process.argv.includes("--serve");
const upstream = await listen(demoUpstream().fetch, 8788);
const api = await listen(basicApp(upstream.url).fetch, Number(process.env.PORT ?? 8787));

console.log(`demo upstream  ${upstream.url}  (fast, slow, trickle, stall, blackhole)`);
console.log(`basic API      ${api.url}  (total 2s, headers 1s, readIdle 500ms)\n`);
console.log("Try it yourself:");
console.log(`  curl -i ${api.url}/fast`);
console.log(`  curl -i ${api.url}/blackhole                      # 504, phase "headers"`);
console.log(`  curl -i ${api.url}/trickle                        # 504, phase "total"`);
console.log(`  curl -i ${api.url}/stall                          # 504, phase "readIdle"`);
console.log(`  curl -i -H 'grpc-timeout: 300m' ${api.url}/slow   # the caller's budget wins`);
console.log(`  curl -N ${api.url}/stream                         # streamed, cut at 2 s\n`);

interface Demo {
  path: string;
  headers?: Record<string, string>;
  note: string;
}

const demos: Demo[] = [
  { path: "/fast", note: "answers at once" },
  { path: "/slow", note: "answers after 600 ms, inside the 1 s headers limit" },
  { path: "/slow", headers: { "grpc-timeout": "300m" }, note: "caller allows 300 ms" },
  { path: "/blackhole", note: "never answers" },
  { path: "/stall", note: "one line, then silence" },
  { path: "/trickle", note: "a byte every 300 ms for 10 s" },
];

console.log("Sending a few requests:\n");
for (const demo of demos) {
  const t0 = performance.now();
  const res = await fetch(`${api.url}${demo.path}`, { headers: demo.headers });
  let phase = "-";
  let body = "";
  try {
    body = await res.text();
    if (res.headers.get("content-type") === "application/problem+json") {
      phase = String((JSON.parse(body) as { phase?: string }).phase);
    }
  } catch {
    phase = `(body cut after ${body.length} bytes)`;
  }
  const ms = Math.round(performance.now() - t0);
  const sent = demo.headers ? ` ${Object.entries(demo.headers).map(([k, v]) => `${k}: ${v}`)}` : "";
  console.log(`GET ${demo.path}${sent}  — ${demo.note}`);
  console.log(`  ${res.status} in ${ms} ms, phase ${phase}`);
  console.log(`  Server-Timing: ${res.headers.get("server-timing")}\n`);
}

if (serveOn) {
  console.log(`Serving until Ctrl-C: ${api.url}`);
  const stop = async (): Promise<void> => {
    await api.close();
    await upstream.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
} else {
  await api.close();
  await upstream.close();
  console.log("Done. `npm run demo -- --serve` keeps the servers running.");
}
