/**
 * Entry of the bundle for workerd: `POST /` with the {@linkcode Env} as JSON
 * runs the cases inside one request and streams one JSON event per line
 * back, so the orchestrator sees progress and survives a crash midway.
 *
 * @module
 */
import "./cases.ts";
import { type Env, runAll } from "./runner.ts";

interface ExecutionContext {
  waitUntil(p: Promise<unknown>): void;
}

export default {
  async fetch(request: Request, _bindings: unknown, ctx: ExecutionContext): Promise<Response> {
    if (new URL(request.url).pathname === "/ping") return new Response("ok");
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
