/**
 * A Cloudflare Worker: a Hono app whose outbound calls go through
 * `c.var.fetch`, each bound to the request's deadline (2 s, shrunk by a
 * budget the caller sends) and to per-phase limits. A limit that passes
 * becomes a 504 `application/problem+json` naming the phase.
 *
 *   npm install && npx wrangler dev     (in examples/worker/)
 *   curl -i localhost:8787/api/         (fetches UPSTREAM from wrangler.toml)
 *
 * Only web-standard APIs: no `nodejs_compat` flag. `npm test` serves this
 * file with workerd against a local upstream (scripts/pack-check.mjs).
 */
import { Hono } from "hono";
import { type TimeboundVariables, timebound } from "timebound/hono";

type Env = {
  Bindings: { UPSTREAM: string };
  Variables: TimeboundVariables;
};

const app = new Hono<Env>();

app.use(
  timebound({
    total: "2s", // the whole exchange, response body included
    headers: "1s", // from request sent to response headers
    readIdle: "500ms", // longest silence while reading the body
    serverTiming: true, // opt-in: it reveals upstream timings to clients
  }),
);

app.get("/", (c) => c.text("timebound worker: GET /api/<path> fetches UPSTREAM/<path>\n"));

// GET /api/<path> fetches <UPSTREAM>/<path>. The upstream's body is read
// here, so reading it counts against the deadline too.
app.get("/api/*", async (c) => {
  const path = c.req.path.slice("/api".length);
  const res = await c.var.fetch(new URL(path, c.env.UPSTREAM));
  return c.json({
    status: res.status,
    body: await res.text(),
    msLeft: Math.round(c.var.deadline.remaining()),
  });
});

export default app;
