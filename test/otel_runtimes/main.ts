/**
 * Entry for Deno and Bun: `main.mjs <upstream>` runs the checks, the Hono
 * app served by the runtime's own server, and prints them as one JSON line.
 */
import { runChecks, type Serve } from "./checks.ts";

declare const Deno:
  | {
      args: string[];
      serve(
        options: { hostname: string; port: number; onListen?: () => void },
        handler: (request: Request) => Response | Promise<Response>,
      ): { addr: { port: number }; shutdown(): Promise<void> };
    }
  | undefined;
declare const Bun:
  | {
      argv: string[];
      serve(options: {
        hostname: string;
        port: number;
        fetch: (request: Request) => Response | Promise<Response>;
      }): { port: number; stop(force?: boolean): Promise<void> };
    }
  | undefined;

const serve: Serve = async (fetch) => {
  if (typeof Deno !== "undefined") {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, fetch);
    return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
  }
  if (typeof Bun !== "undefined") {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
    return { url: `http://127.0.0.1:${server.port}`, close: () => server.stop(true) };
  }
  return undefined;
};

const args =
  typeof Deno !== "undefined" ? Deno.args : typeof Bun !== "undefined" ? Bun.argv.slice(2) : [];
console.log(JSON.stringify(await runChecks(args[0]!, serve)));
