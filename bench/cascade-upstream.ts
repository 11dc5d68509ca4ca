/**
 * The dependency of the cascade bench (a child process): `GET /api` answers
 * in 50 ms. After the parent sends `{ type: "degrade", blackholeRate }`, that
 * share of calls become black holes: the request is accepted and never
 * answered, the connection held until the caller closes it.
 *
 * Which calls are black holes comes from a seeded PRNG, so both variants of
 * the bench face the same sequence. Reports its open sockets every 250 ms.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

const NORMAL_MS = 50;
const BODY = JSON.stringify({ quote: "Timeouts are an often overlooked setting.", lang: "en" });

/** mulberry32: small, fast, good enough to pick black holes reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(Number(process.env.SEED ?? 42));
let blackholeRate = 0;
let served = 0;
let blackholed = 0;
const sockets = new Set<Socket>();
const pending = new Set<ServerResponse>();

const server = createServer((req, res) => {
  if (req.url !== "/api") {
    res.writeHead(404).end();
    return;
  }
  if (blackholeRate > 0 && random() < blackholeRate) {
    blackholed++;
    pending.add(res);
    res.on("close", () => pending.delete(res));
    return; // never answered
  }
  const t = setTimeout(() => {
    served++;
    res.writeHead(200, { "content-type": "application/json" }).end(BODY);
  }, NORMAL_MS);
  res.on("close", () => clearTimeout(t));
});
server.keepAliveTimeout = 5_000;
server.on("connection", (s) => {
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
});

process.on("message", (m: { type: string; blackholeRate?: number }) => {
  if (m.type === "degrade") blackholeRate = m.blackholeRate ?? 0.2;
  if (m.type === "stop") {
    clearInterval(ticker);
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  }
});

const ticker = setInterval(() => {
  process.send?.({
    type: "sample",
    openSockets: sockets.size,
    blackholesOpen: pending.size,
    served,
    blackholed,
  });
}, 250);

server.listen(0, "127.0.0.1", () => {
  process.send?.({ type: "ready", port: (server.address() as AddressInfo).port });
});
