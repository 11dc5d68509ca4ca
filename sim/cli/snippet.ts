/**
 * The `createFetch({ … })` lines the command line prints as advice. One
 * builder for every command, so every snippet is written in the library's
 * own grammar: durations by `formatDuration` (which `parseDuration` reads
 * back to the same number), `false` for a limit that is off, chunk sizes
 * as byte counts. test/sim_cli_snippet.test.ts passes every shape this can
 * print to `createFetch`.
 *
 * @module
 */
import { formatDuration } from "../../src/duration.ts";

/** What a snippet may set: limits in ms (`false` or `Infinity`: off) and the chunk size in bytes. */
export interface SnippetOptions {
  total?: number | false;
  headers?: number | false;
  readIdle?: number | false;
  writeIdle?: number | false;
  upload?: { chunkSize: number };
}

const LIMITS = ["total", "headers", "readIdle", "writeIdle"] as const;

/** A limit as a JavaScript literal: `"90s"`, `"250ms"`, or `false` when off. */
export function limitLiteral(ms: number | false): string {
  return ms === false || ms === Number.POSITIVE_INFINITY
    ? "false"
    : JSON.stringify(formatDuration(ms));
}

/**
 * `createFetch({ total: "90s", writeIdle: "5s", upload: { chunkSize: 65536 } })`:
 * the options given, in that order, as a line of JavaScript.
 */
export function createFetchSnippet(options: SnippetOptions): string {
  const parts: string[] = [];
  for (const k of LIMITS) {
    const v = options[k];
    if (v !== undefined) parts.push(`${k}: ${limitLiteral(v)}`);
  }
  if (options.upload) parts.push(`upload: { chunkSize: ${options.upload.chunkSize} }`);
  return `createFetch({ ${parts.join(", ")} })`;
}
