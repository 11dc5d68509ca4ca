/**
 * Helpers for the Hono middleware tests: a clock that counts armed timers, an
 * in-process upstream (a fetch that honours its signal), and real servers on
 * 127.0.0.1 that report what they saw.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";

export { countingClock } from "./_clock.ts";

import { listenTracked } from "./_server.ts";

export { trickle } from "./_server.ts";

/** What the in-process upstream saw of one request. */
export interface FakeCall {
  url: string;
  method: string;
  headers: Headers;
  /** Settles when the call was aborted or its body cancelled (with the reason). */
  aborted: Promise<unknown>;
  wasAborted: boolean;
}

/**
 * An upstream as a fetch, no sockets: `/ok` answers at once, `/slow?ms=N`
 * after N ms, `/hang` never, `/trickle` sends a byte every 20 ms forever,
 * `/open` throws a CircuitOpenError-shaped error. Like a real fetch it
 * rejects with `signal.reason` on abort and stops its body when cancelled;
 * every timer it starts is cleared.
 */
export function fakeUpstream(): { fetch: typeof fetch; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const fake = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    let settleAborted!: (reason: unknown) => void;
    const call: FakeCall = {
      url: url.href,
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)),
      aborted: new Promise((r) => {
        settleAborted = r;
      }),
      wasAborted: false,
    };
    calls.push(call);
    const abortedWith = (reason: unknown): void => {
      if (call.wasAborted) return;
      call.wasAborted = true;
      settleAborted(reason);
    };
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) {
        abortedWith(signal.reason);
        return reject(signal.reason);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      let ticker: ReturnType<typeof setInterval> | undefined;
      const onAbort = (): void => {
        clearTimeout(timer);
        clearInterval(ticker);
        abortedWith(signal!.reason);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const answer = (res: Response): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(res);
      };
      switch (url.pathname) {
        case "/ok":
          return answer(new Response("ok", { headers: { "content-type": "text/plain" } }));
        case "/slow": {
          const ms = Number(url.searchParams.get("ms") ?? "200");
          timer = setTimeout(() => answer(new Response("slow")), ms);
          return;
        }
        case "/hang":
          return;
        case "/open":
          signal?.removeEventListener("abort", onAbort);
          return reject(
            Object.assign(new Error("circuit open for upstream"), {
              name: "CircuitOpenError",
              retryAfterMs: 2500,
            }),
          );
        case "/trickle": {
          const body = new ReadableStream<Uint8Array>({
            start(c) {
              ticker = setInterval(() => c.enqueue(new Uint8Array([120])), 20);
              signal?.addEventListener(
                "abort",
                () => {
                  clearInterval(ticker);
                  try {
                    c.error(signal.reason);
                  } catch {}
                },
                { once: true },
              );
            },
            cancel(reason) {
              clearInterval(ticker);
              abortedWith(reason);
            },
          });
          // The body outlives this promise: keep listening for abort on it.
          resolve(new Response(body));
          return;
        }
        default:
          return answer(new Response("not found", { status: 404 }));
      }
    });
  };
  return { fetch: fake as typeof fetch, calls };
}

/** What a real upstream saw of one request. */
export interface SeenRequest {
  path: string;
  method: string;
  headers: IncomingMessage["headers"];
  /** Resolves when the response closed: finished, or the client went away. */
  closed: Promise<{ finished: boolean }>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Upstream {
  url: string;
  seen: SeenRequest[];
  /** Requests whose response has not closed yet. */
  live(): number;
  /** Resolves when `n` requests have arrived. */
  arrived(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A node:http upstream on 127.0.0.1; `route` picks a handler by path. */
export async function startUpstream(
  route: (path: string) => UpstreamHandler | undefined,
): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let live = 0;
  const server: Server = createServer((req, res) => {
    live++;
    const path = req.url ?? "/";
    const closed = new Promise<{ finished: boolean }>((resolve) => {
      res.on("close", () => {
        live--;
        resolve({ finished: res.writableFinished });
      });
    });
    seen.push({ path, method: req.method ?? "GET", headers: req.headers, closed });
    for (const w of waiters.splice(0)) {
      if (seen.length >= w.n) w.resolve();
      else waiters.push(w);
    }
    const handler = route(new URL(path, "http://x").pathname);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  const { url, close } = await listenTracked(server);
  return {
    url,
    seen,
    live: () => live,
    arrived: (n) =>
      seen.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    close,
  };
}

/** Serves a Hono app with @hono/node-server on 127.0.0.1 and an ephemeral port. */
export async function serveApp(
  app: Hono<never> | { fetch: (req: Request) => Response | Promise<Response> },
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server!: Server;
  await new Promise<void>((resolve) => {
    server = serve(
      { fetch: (app as { fetch: (r: Request) => Response }).fetch, port: 0, hostname: "127.0.0.1" },
      () => resolve(),
    ) as Server;
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves with `promise`, or rejects after `ms` naming `what` (every wait in these tests is bounded). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 10 ms until it is true, for at most `ms`. */
export async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
