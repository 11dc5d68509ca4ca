/**
 * `--link-trace FILE|NAME` for the `timebound` command line: a Mahimahi
 * `mm-link` trace read from a file, or one of the traces shipped in the
 * package's `sim/traces/` by name (`wifi-onoff`), found from wherever the
 * CLI runs (sim/cli/ in the repository, dist/sim/cli/ in an installed
 * package).
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "commander";
import { type LinkTrace, parseLinkTrace } from "../linktrace.ts";

/** The package's `sim/traces/` directory: the nearest above this file that holds it. */
function tracesDir(): URL | undefined {
  for (let dir = new URL(".", import.meta.url); ; ) {
    for (const candidate of ["traces/", "sim/traces/"]) {
      const url = new URL(candidate, dir);
      if (existsSync(url)) return url;
    }
    const up = new URL("..", dir);
    if (up.href === dir.href) return undefined;
    dir = up;
  }
}

/** The names of the shipped traces (`sim/traces/<name>.trace`). */
export function shippedTraces(): string[] {
  const dir = tracesDir();
  if (!dir) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".trace"))
    .map((f) => f.slice(0, -".trace".length))
    .sort();
}

/**
 * Reads a link trace: `text` is a path to an mm-link file, or the name of
 * a shipped trace. A commander option parser: a bad file or name throws
 * InvalidArgumentError with the parser's line-numbered reason.
 */
export function linkTraceArg(text: string): LinkTrace {
  let file: string | URL = text;
  if (!existsSync(text)) {
    const dir = tracesDir();
    const name = text.endsWith(".trace") ? text.slice(0, -".trace".length) : text;
    const shipped = dir && new URL(`${name}.trace`, dir);
    if (!shipped || name.includes("/") || !existsSync(shipped)) {
      throw new InvalidArgumentError(
        `no file ${JSON.stringify(text)}, and no shipped trace of that name (shipped: ${shippedTraces().join(", ") || "none"})`,
      );
    }
    file = shipped;
  }
  try {
    const name = basename(typeof file === "string" ? file : fileURLToPath(file));
    return parseLinkTrace(readFileSync(file, "utf8"), name);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}
