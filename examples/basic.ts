/**
 * The basic example: a Hono API that calls an upstream through `c.var.fetch`.
 * Every call is bound to the request's deadline (2 s, or less if the caller
 * sends `grpc-timeout` / `x-envoy-expected-rq-timeout-ms` /
 * `timebound-budget-ms`), to per-phase limits, and to the client's
 * connection. A timeout becomes a 504 `application/problem+json` naming the
 * phase; `Server-Timing` shows where the time went.
 *
 * Run: `node examples/basic.ts` (Node 24), or `npm run demo` for the guided demo.
 */
import { Hono } from "hono";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import { isMain, listen } from "./_serve.ts";
import { demoUpstream } from "./demo-upstream.ts";

/** The API, calling `upstream` (an origin such as `http://127.0.0.1:8788`). */
export function basicApp(upstream: string): Hono<TimeboundEnv> {
  const app = new Hono<TimeboundEnv>();

  app.use(
    timebound({
      total: "2s", // the whole exchange, response body included
      headers: "1s", // from request sent to response headers
      readIdle: "500ms", // longest silence while reading the body
      serverTiming: true, // opt-in: it reveals upstream timings to clients
    }),
  );

  // JSON routes: read the upstream body here, so its time counts against the deadline.
  for (const route of ["fast", "slow", "trickle", "stall", "blackhole"]) {
    app.get(`/${route}`, async (c) => {
      const search = new URL(c.req.url).search;
      const res = await c.var.fetch(`${upstream}/${route}${search}`);
      const text = await res.text();
      return c.json({
        route,
        upstreamStatus: res.status,
        bytes: text.length,
        msLeft: Math.round(c.var.deadline.remaining()),
      });
    });
  }

  // A streamed pass-through: the response starts at once and is cut at the deadline.
  app.get("/stream", (c) => c.var.fetch(`${upstream}/trickle`));

  // Anything else can be bounded by the same deadline.
  app.get("/work", async (c) => {
    const ms = Number(c.req.query("ms") ?? 100);
    // The function form gets the signal, so the work stops, not just the wait.
    const answer = await c.var.deadline.within(
      (signal) =>
        new Promise<string>((resolve, reject) => {
          const onAbort = (): void => {
            clearTimeout(timer);
            reject(signal.reason);
          };
          const timer = setTimeout(() => {
            signal.removeEventListener("abort", onAbort);
            resolve("computed");
          }, ms);
          signal.addEventListener("abort", onAbort, { once: true });
        }),
    );
    return c.json({ answer });
  });

  return app;
}

if (isMain(import.meta.url)) {
  const up = await listen(demoUpstream().fetch, 8788);
  const api = await listen(basicApp(up.url).fetch, Number(process.env.PORT ?? 8787));
  console.log(`upstream ${up.url}, API ${api.url}`);
  console.log(`try: curl -i ${api.url}/fast   ${api.url}/blackhole   ${api.url}/trickle`);
}
