/**
 * Entry for workerd: `POST /` with `{ upstream, front }` (`front`: this
 * worker's own address) runs the checks and answers with them as JSON. The
 * Hono app of the propagation check is served on this same socket while it
 * runs, so its inbound request arrives over real TCP as on Deno and Bun.
 */
import { runChecks } from "./checks.ts";

let app: ((request: Request) => Response | Promise<Response>) | undefined;

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method !== "POST") {
      return app ? app(request) : new Response("no app being served", { status: 404 });
    }
    const { upstream, front } = (await request.json()) as { upstream: string; front: string };
    const outcome = await runChecks(upstream, async (fetch) => {
      app = fetch;
      return {
        url: front,
        close: async () => {
          app = undefined;
        },
      };
    });
    return Response.json(outcome);
  },
};
