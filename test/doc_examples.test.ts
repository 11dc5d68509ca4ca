/**
 * Every `@example` in the public modules runs (STYLE.md, habit 7): examples
 * that never run drift from the code. Each fenced ```ts block in a JSDoc
 * comment is written to .cache/doc-examples/ with `timebound` imports pointed
 * at the sources, then imported.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, ".cache", "doc-examples");
const ENTRY: Record<string, string> = {
  timebound: "src/mod.ts",
  "timebound/hono": "src/hono.ts",
  "timebound/otel": "src/otel.ts",
  "timebound/sim": "sim/mod.ts",
};

interface Example {
  file: string;
  index: number;
  code: string;
}

function examplesIn(file: string): Example[] {
  const text = readFileSync(file, "utf8");
  const found: Example[] = [];
  const block = /@example[\s\S]*?```ts\n([\s\S]*?)```/g;
  for (const m of text.matchAll(block)) {
    const code = m[1]!
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join("\n");
    found.push({ file: relative(root, file), index: found.length, code });
  }
  return found;
}

const sources = ["src", "sim"].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "cli.ts")
    .map((f) => join(root, dir, f)),
);
const examples = sources.flatMap(examplesIn);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

describe("JSDoc examples run", () => {
  it("there are examples to run", () => {
    expect(examples.length).toBeGreaterThan(5);
  });

  for (const ex of examples) {
    it(`${ex.file} #${ex.index + 1}`, async () => {
      const code = ex.code.replace(/from "(timebound(?:\/\w+)?)"/g, (whole, name: string) => {
        const target = ENTRY[name];
        return target ? `from ${JSON.stringify(join(root, target))}` : whole;
      });
      const path = join(out, `${ex.file.replace(/[/.]/g, "_")}_${ex.index + 1}.ts`);
      // console.assert only logs; examples must fail loudly when they drift.
      writeFileSync(
        path,
        `const console = { ...globalThis.console, log() {}, assert(ok: unknown, ...m: unknown[]) { if (!ok) throw new Error("assertion failed: " + m.join(" ")); } };\n${code}\nexport {};\n`,
      );
      await import(path);
    });
  }
});
