// `npm run build` (and `prepack`): compile src/ and sim/ (the CLI included)
// into dist/ with tsconfig.build.json, from a clean dist/ so nothing stale is
// packed, and mark the CLI (the package's `bin`) executable.
// Plain JavaScript so Node 20 runs it.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

rmSync(join(root, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) {
  console.error(`build: tsc failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
for (const bin of Object.values(pkg.bin ?? {})) {
  const file = join(root, bin);
  if (!existsSync(file)) {
    console.error(`build: bin ${bin} was not built`);
    process.exit(1);
  }
  if (!readFileSync(file, "utf8").startsWith("#!/usr/bin/env node\n")) {
    console.error(`build: bin ${bin} lacks the #!/usr/bin/env node line`);
    process.exit(1);
  }
  chmodSync(file, 0o755);
}
