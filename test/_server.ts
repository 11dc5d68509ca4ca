/** A small local HTTP server for tests, with routes that misbehave on purpose. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  url: string;
  /** Sockets currently open. */
  openSockets(): number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 (an ephemeral port) and tracks sockets, so that
 * `close()` ends keep-alive connections too and tests leave nothing open.
 */
export async function listenTracked(
  server: Server,
): Promise<{ url: string; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Starts a server on 127.0.0.1 with `routes` keyed by path. */
export async function startServer(routes: Record<string, Handler>): Promise<TestServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const route = routes[path];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  const { url, sockets, close } = await listenTracked(server);
  return { url, openSockets: () => sockets.size, close };
}

/** Sends `byte` every `everyMs` until the client goes away (bounded by `maxMs`). */
export function trickle(everyMs: number, maxMs = 30_000): Handler {
  return (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    const started = Date.now();
    const t = setInterval(() => {
      if (Date.now() - started > maxMs) {
        clearInterval(t);
        res.end();
      } else res.write("x");
    }, everyMs);
    res.on("close", () => clearInterval(t));
  };
}
