/**
 * The inbound server in front of the Hono app under test: each runtime's own
 * (`@hono/node-server` on Node, `Deno.serve`, `Bun.serve`); on workerd the
 * worker itself serves the app under `/mw/` on its socket (worker.ts). Only
 * globals here: the Node server is registered by the Node bundle's entry
 * (front_node.ts), so no other bundle carries a `node:` import.
 *
 * @module
 */
import type { Ctx } from "./runner.ts";

/** A running inbound server. */
export interface Front {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

/**
 * The app's fetch, with what the server passes as its second argument (Hono's
 * `c.env`): Node's `{ incoming, outgoing }`, Deno's `ServeHandlerInfo`, Bun's
 * server. Apps pass `app.fetch` itself, so the cases do too.
 */
export type AppFetch = (request: Request, env?: unknown) => Response | Promise<Response>;
export type Serve = (fetch: AppFetch) => Promise<Front>;

let nodeServe: Serve | undefined;

/** Registers the Node server (the Node bundle's entry does this). */
export function setNodeServe(serve: Serve): void {
  nodeServe = serve;
}

interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
interface BunServer {
  port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
const g = globalThis as unknown as {
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen?: () => void },
      handler: (request: Request, info: unknown) => Response | Promise<Response>,
    ): DenoServer;
  };
  Bun?: {
    serve(options: {
      port: number;
      hostname: string;
      fetch: (request: Request, server: unknown) => Response | Promise<Response>;
    }): BunServer;
  };
};

/** Starts the runtime's own server for `fetch` on a free loopback port. */
export async function serveFront(t: Ctx, fetch: AppFetch): Promise<Front> {
  switch (t.kind) {
    case "node":
      if (!nodeServe) throw new Error("no Node server registered (run the node.mjs bundle)");
      return nodeServe(fetch);
    case "deno": {
      // onListen replaced: the default prints "Listening on …" to stdout.
      const server = g.Deno!.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req, info) =>
        fetch(req, info),
      );
      return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
    }
    case "bun": {
      const server = g.Bun!.serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch: (req, server) => fetch(req, server),
      });
      return {
        url: `http://127.0.0.1:${server.port}`,
        close: async () => {
          await server.stop(true);
        },
      };
    }
    case "workerd":
      if (!t.env.front) throw new Error("env.front is not set for workerd");
      return { url: t.env.front, close: async () => {} };
  }
}
