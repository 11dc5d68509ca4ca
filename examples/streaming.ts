/**
 * Streaming and composition: an SSE route whose callback keeps calling the
 * upstream after the handler has returned (the request scope lives as long
 * as the response, and the stream is cut at the deadline), and a
 * route-level `timebound()` under the app-level one (it can only shrink the
 * deadline, counted from when the first one saw the request).
 *
 * Run: `node examples/streaming.ts` (Node 24), then
 * `curl -N -H 'timebound-budget-ms: 2500' localhost:8787/prices`.
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import { isMain, listen } from "./_serve.ts";
import { demoUpstream } from "./demo-upstream.ts";

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (and clears its timer). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The API, calling `upstream` (an origin such as `http://127.0.0.1:8788`). */
export function streamingApp(upstream: string, everyMs = 1000): Hono<TimeboundEnv> {
  const app = new Hono<TimeboundEnv>();
  app.use(timebound({ total: "10s" }));

  // One event per upstream answer until the deadline (10 s, or the client's budget).
  app.get("/prices", (c) =>
    streamSSE(
      c,
      async (stream) => {
        while (!stream.aborted) {
          // Bounded by the request's deadline, aborted if the client leaves.
          const res = await c.var.fetch(`${upstream}/fast`);
          await stream.writeSSE({ event: "price", data: await res.text() });
          await c.var.deadline.within((signal) => sleep(everyMs, signal));
        }
      },
      // Hono prints what the callback throws unless it is handled here: at
      // the deadline that is a TimeoutError (the body is being cut anyway).
      async (err, stream) => {
        await stream.writeSSE({ event: "end", data: err.name });
      },
    ),
  );

  // A route-level timebound(): 2 s at most, and never more than the app-level deadline left.
  app.get("/report", timebound({ total: "2s" }), (c) =>
    c.json({ budgetMs: c.var.deadline.budgetMs, source: c.var.deadline.source }),
  );
  return app;
}

if (isMain(import.meta.url)) {
  const up = await listen(demoUpstream().fetch, 8788);
  const api = await listen(streamingApp(up.url).fetch, Number(process.env.PORT ?? 8787));
  console.log(`upstream ${up.url}, API ${api.url}`);
  console.log(`try: curl -N -H 'timebound-budget-ms: 2500' ${api.url}/prices`);
}
