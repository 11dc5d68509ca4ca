/**
 * The `timebound` command line as a user runs it, for the CLI tests: a child
 * process of the Node running the tests (≥ 22.18, so sim/cli.ts runs as is).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "sim", "cli.ts");

/** What a run printed, and its exit code. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `timebound <args>` in `cwd`; resolves when it exits (bounded by `timeoutMs`). */
export function runCli(args: string[], cwd = root, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { cwd, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
