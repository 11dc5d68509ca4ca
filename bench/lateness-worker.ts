/**
 * workerd entry of the lateness probe. workerd's clock stands still between
 * I/O events and reads a timer's scheduled time when the timer fires (a
 * Spectre mitigation), so lateness cannot be seen from inside: each round is
 * one request, `POST /round` with `{ input, series }`, and the orchestrator
 * times it from outside (minus the round trip of `POST /noop`).
 *
 * @module
 */
import { type ProbeInput, round, type Series } from "./lateness-probe.ts";

export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path !== "/round") return new Response("ok");
    const { input, series } = (await request.json()) as { input: ProbeInput; series: Series };
    return Response.json(await round(input, series));
  },
};
