/**
 * The server end of the kernel validation, run inside the server namespace
 * by {@linkcode ../kernel/lab.ts}: `node test/kernel/server.ts <host>`.
 *
 * - `POST /upload` reads the whole body and answers, once it has, with JSON
 *   `{ bytes, requestAt, firstByteAt, lastByteAt }`: times are
 *   `process.hrtime` in ms (CLOCK_MONOTONIC, the same clock in every process
 *   on the machine, so the client can compare them with its own).
 * - `POST /warm` (or anything else) answers `ok` at once: it opens the
 *   keep-alive connection the upload then reuses.
 * - A TCP echo port answers each write with the same bytes: RTT probes.
 *
 * Prints `{"port":…,"echoPort":…}` once listening; exits when stdin closes.
 *
 * @module
 */
import { createServer } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";

const host = process.argv[2] ?? "127.0.0.1";
const hr = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Body bytes of the upload in progress (or the last one): `GET /stats`. */
let reading = 0;

const http = createServer((req, res) => {
  const requestAt = hr();
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "GET" && url.pathname === "/stats") {
    res.end(JSON.stringify({ bytes: reading }));
    return;
  }
  if (req.method === "POST" && url.pathname === "/upload") {
    let bytes = 0;
    reading = 0;
    let firstByteAt = Number.NaN;
    let lastByteAt = Number.NaN;
    // A tarpit: `?readBps=N` reads N bytes/s (after each chunk the socket
    // read, a pause as long as that chunk takes at N; the kernel's receive
    // buffer fills meanwhile, as behind a slow application).
    const readBps = Number(url.searchParams.get("readBps") ?? Number.NaN);
    req.on("data", (chunk: Buffer) => {
      const now = hr();
      if (bytes === 0) firstByteAt = now;
      lastByteAt = now;
      bytes += chunk.byteLength;
      reading = bytes;
      if (readBps > 0) {
        req.pause();
        setTimeout(() => req.resume(), (chunk.byteLength / readBps) * 1000);
      }
    });
    req.on("end", () => {
      // One upload per connection: the next starts cold (cwnd 10), as the simulator does.
      res.writeHead(200, { "content-type": "application/json", connection: "close" });
      const remotePort = req.socket.remotePort;
      res.end(JSON.stringify({ bytes, requestAt, firstByteAt, lastByteAt, remotePort }));
    });
    req.on("error", () => res.destroy());
    return;
  }
  req.resume();
  req.on("end", () => res.end(String(req.socket.remotePort)));
});
// Keep-alive long enough for a warm-up, a pause and the upload.
http.keepAliveTimeout = 60_000;
http.requestTimeout = 0;

const echo = createTcpServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (d) => socket.write(d));
  socket.on("error", () => socket.destroy());
});

await new Promise<void>((resolve) => http.listen(0, host, resolve));
await new Promise<void>((resolve) => echo.listen(0, host, resolve));
process.stdout.write(
  `${JSON.stringify({
    port: (http.address() as AddressInfo).port,
    echoPort: (echo.address() as AddressInfo).port,
  })}\n`,
);
process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
