/**
 * A deliberately unreliable upstream for the demos: the failure modes a
 * timeout has to handle, one route each.
 *
 * - `GET /fast`      answers at once.
 * - `GET /slow`      answers after `?ms=` (default 600) milliseconds.
 * - `GET /trickle`   starts at once, then one byte every 300 ms for 10 s:
 *                    no single gap is long, the whole thing is.
 * - `GET /stall`     sends headers and one line, then nothing.
 * - `GET /blackhole` accepts the request and never answers (a dead proxy,
 *                    a full accept queue, a half-open connection).
 *
 * Every route stops when its client goes away, so nothing outlives a demo.
 *
 * Run alone: `node examples/demo-upstream.ts` (Node 24; `npm run demo` runs the
 * whole demo).
 */
import { Hono } from "hono";
import { isMain, listen } from "./_serve.ts";

/** Waits `ms`, or until `signal` aborts (then rejects with its reason). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A body that emits `chunk` every `everyMs` for `forMs`, and stops when cancelled. */
function drip(
  chunk: string,
  everyMs: number,
  forMs: number,
  first = "",
): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(chunk);
  let timer: ReturnType<typeof setInterval> | undefined;
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (first) c.enqueue(new TextEncoder().encode(first));
      if (everyMs <= 0) return; // send nothing more, ever (until cancelled)
      const until = Date.now() + forMs;
      timer = setInterval(() => {
        if (Date.now() >= until) {
          clearInterval(timer);
          c.close();
        } else c.enqueue(bytes);
      }, everyMs);
    },
    cancel() {
      clearInterval(timer);
    },
  });
}

/** The demo upstream as a Hono app. */
export function demoUpstream(): Hono {
  const app = new Hono();
  app.get("/fast", (c) => c.json({ route: "fast", at: new Date().toISOString() }));
  app.get("/slow", async (c) => {
    const ms = Math.min(Number(c.req.query("ms") ?? 600) || 0, 30_000);
    try {
      await sleep(ms, c.req.raw.signal);
    } catch {
      return new Response(null, { status: 499 }); // the client left; nobody reads this
    }
    return c.json({ route: "slow", waitedMs: ms });
  });
  app.get("/trickle", () => new Response(drip(".", 300, 10_000)));
  app.get("/stall", () => new Response(drip("", 0, 0, "first line, then silence\n")));
  app.get("/blackhole", (c) => {
    // Never answers; resolves only to let go once the client has gone.
    return new Promise<Response>((resolve) => {
      c.req.raw.signal.addEventListener(
        "abort",
        () => resolve(new Response(null, { status: 499 })),
        {
          once: true,
        },
      );
    });
  });
  return app;
}

if (isMain(import.meta.url)) {
  const server = await listen(demoUpstream().fetch, Number(process.env.PORT ?? 8788));
  console.log(`demo upstream on ${server.url}: /fast /slow?ms=600 /trickle /stall /blackhole`);
}
