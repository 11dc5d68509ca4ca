/**
 * Serving a Hono app on Node for the examples (@hono/node-server). The apps
 * themselves use only web-standard APIs; on Deno or Bun serve `app.fetch`
 * with `Deno.serve` / `Bun.serve` instead.
 */
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";

/** A running server: its base URL, and a close that also drops open connections. */
export interface Running {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `fetch` on 127.0.0.1:`port`; if that port is taken (or 0), on any free one. */
export async function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  port = 0,
): Promise<Running> {
  try {
    return await listenOn(fetch, port);
  } catch (error) {
    if (port !== 0 && (error as { code?: string }).code === "EADDRINUSE") return listenOn(fetch, 0);
    throw error;
  }
}

function listenOn(
  fetch: (request: Request) => Response | Promise<Response>,
  port: number,
): Promise<Running> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<Socket>();
    const server = serve({ fetch, port, hostname: "127.0.0.1" }) as Server;
    server.once("error", reject);
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    server.once("listening", () => {
      const { port: actual } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${actual}`,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Whether the module at `url` (pass `import.meta.url`) is the one Node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] === fileURLToPath(url);
}
