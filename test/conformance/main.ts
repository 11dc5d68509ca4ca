/**
 * Entry of the bundle for Deno and Bun (and, through main_node.ts, Node):
 * reads the {@linkcode Env} (JSON) from the first argument, runs the cases
 * and writes one JSON event per line to stdout for the orchestrator.
 *
 * @module
 */
import "./suite.ts";
import { type Env, runAll } from "./runner.ts";

const g = globalThis as unknown as {
  Deno?: { args: string[] };
  process?: { argv: string[]; exitCode?: number };
};
const arg = g.Deno ? g.Deno.args[0] : g.process?.argv[2];
if (!arg) throw new Error("usage: <runtime> main.mjs '<env json>'");
const env = JSON.parse(arg) as Env;
const failed = await runAll(env, (event) => console.log(JSON.stringify(event)));
// No explicit exit: the orchestrator checks that the process ends by itself
// (a timer or socket left by the library would keep it alive).
if (g.process) g.process.exitCode = failed ? 1 : 0;
