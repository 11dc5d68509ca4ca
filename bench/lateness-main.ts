/**
 * Command-line entry of the lateness probe for Node, Deno and Bun: takes a
 * {@linkcode ProbeInput} as JSON in its first argument, prints the
 * {@linkcode ProbeResult} as one JSON line. Bundled by `bench/lateness.ts`.
 *
 * @module
 */
import { type ProbeInput, probe } from "./lateness-probe.ts";

declare const Deno: { args: string[] } | undefined;

const arg = typeof Deno !== "undefined" ? Deno.args[0] : process.argv[2];
console.log(JSON.stringify(await probe(JSON.parse(arg!) as ProbeInput)));
