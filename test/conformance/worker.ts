/**
 * Entry of the bundle for workerd: `POST /` with the {@linkcode Env} as JSON
 * runs the cases inside one request and streams one JSON event per line
 * back, so the orchestrator sees progress and survives a crash midway.
 * Requests under `/mw/` go to the Hono app of the middleware cases, which
 * the cases call through this same socket (`env.front`).
 *
 * @module
 */
import type { ExecutionContext } from "hono";
import "./suite.ts";
import { app } from "./middleware.ts";
import { type Env, runAll } from "./runner.ts";

export default {
  async fetch(request: Request, bindings: unknown, ctx: ExecutionContext): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/ping") return new Response("ok");
    // The Hono app of the middleware cases: the worker is its own front server.
    if (path.startsWith("/mw/")) return app.fetch(request, bindings, ctx);
    const env = (await request.json()) as Env;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    const done = runAll(env, (event) => {
      // If the orchestrator went away there is nobody to tell; not an error of the suite.
      writer.write(encoder.encode(`${JSON.stringify(event)}\n`)).catch(() => {});
    }).finally(() => writer.close().catch(() => {}));
    ctx.waitUntil(done);
    return new Response(readable, { headers: { "content-type": "application/x-ndjson" } });
  },
};
