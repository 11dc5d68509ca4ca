// npm records optional platform packages (e.g. @deno/darwin-arm64) in
// package-lock.json only when the registry it installed from serves them.
// The registry mirror here lacks some non-Linux builds, so `npm install`
// writes a lock that `npm ci` then rejects as "out of sync". This adds the
// missing optional entries with their os/cpu so `npm ci` skips them on Linux
// exactly as it would with a lock made against the full registry.
// Run after `npm install`: node .ci/complete-lock.mjs
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const pkgs = lock.packages;

function platformOf(name) {
  const n = name.toLowerCase();
  const os = n.includes("darwin")
    ? "darwin"
    : n.includes("win32") || n.includes("windows")
      ? "win32"
      : n.includes("android")
        ? "android"
        : n.includes("freebsd")
          ? "freebsd"
          : "linux";
  const cpu = /arm64|aarch64/.test(n) ? "arm64" : /ia32/.test(n) ? "ia32" : "x64";
  const entry = { os: [os], cpu: [cpu] };
  if (n.includes("musl")) entry.libc = ["musl"];
  return entry;
}

let added = 0;
for (const [where, meta] of Object.entries(pkgs)) {
  for (const [dep, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (pkgs[key] || pkgs[`${where}/node_modules/${dep}`]) continue;
    pkgs[key] = {
      version: range.replace(/^[\^~=]/, ""),
      dev: meta.dev,
      optional: true,
      ...platformOf(dep),
    };
    added++;
  }
}
const sorted = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) =>
    a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0,
  ),
);
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} optional platform entries`);
