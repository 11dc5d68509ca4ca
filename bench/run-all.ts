/**
 * Runs timebound's benchmarks one after another (never two at once: the
 * machine has two cores), each in its own Node 24 process with a time limit,
 * and prints their tables. No npm needed:
 *
 *   node_modules/.bin/node bench/run-all.ts [fetch-small stream-throughput …]
 *
 * @module
 */
import { spawn } from "node:child_process";
import { here, node24 } from "./_util.ts";

/** Each script and its time limit (generous: several times its usual run). */
const SCRIPTS: [string, number][] = [
  ["fetch-overhead", 120_000],
  ["fetch-small", 900_000],
  ["stream-throughput", 600_000],
  ["heap-inflight", 600_000],
  ["abandoned", 600_000],
  ["lateness", 900_000],
];

const wanted = process.argv.slice(2);
const chosen = SCRIPTS.filter(([name]) => wanted.length === 0 || wanted.includes(name));
let failed = 0;
for (const [name, limitMs] of chosen) {
  console.log(`\n## ${name}\n`);
  const code = await new Promise<number | null>((resolve) => {
    // Own process group, so a timeout takes the script's servers and runtimes with it.
    const child = spawn(node24, [here(`${name}.ts`)], { stdio: "inherit", detached: true });
    const timer = setTimeout(() => {
      console.error(`${name}: killed after ${limitMs} ms`);
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, limitMs);
    child.once("close", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) {
    failed++;
    console.error(`${name}: exit ${code}`);
  }
}
process.exitCode = failed ? 1 : 0;
