/**
 * Real proxy software for the proxy lab (issue 12, item 6): squid 5.7,
 * tinyproxy 1.11 and nginx 1.22 (with and without request buffering), from
 * Debian's packages, each run as the lab's own process (killed by PID) in
 * the lab's proxy namespace with a configuration written here into a
 * temporary directory. Nothing of the system's installation runs: no
 * service, no init script, no default configuration.
 *
 * - squid and tinyproxy are forward proxies: the client sends plain HTTP in
 *   absolute form (`POST http://server/upload`), no CONNECT tunnel.
 * - nginx is a reverse proxy (`proxy_pass` to the server). With
 *   `proxy_request_buffering on` (its default) it reads the whole body
 *   before it connects upstream, keeping `client_body_buffer_size` (16 KiB
 *   by default) in memory and spilling the rest to a temporary file; with
 *   `off` it streams.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Lab, PROXY_IP, type Proc, SERVER_IP } from "./lab.ts";

export type ProxyName = "squid" | "tinyproxy" | "nginx-streaming" | "nginx-buffered";
export const PROXY_NAMES: readonly ProxyName[] = [
  "squid",
  "tinyproxy",
  "nginx-streaming",
  "nginx-buffered",
];

/** The binaries, from Debian's `squid`, `tinyproxy` and `nginx` packages. */
const BINARIES: Record<ProxyName, string> = {
  squid: "squid",
  tinyproxy: "tinyproxy",
  "nginx-streaming": "nginx",
  "nginx-buffered": "nginx",
};

/** Whether the proxy's binary is installed; if not, why. */
export function proxySupport(name: ProxyName): { ok: true } | { ok: false; reason: string } {
  const bin = BINARIES[name];
  const r = spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" });
  if (r.status !== 0)
    return { ok: false, reason: `\`${bin}\` not found (apt-get install squid tinyproxy nginx)` };
  return { ok: true };
}

/** A running proxy: where the client sends its upload, and how. */
export interface RunningProxy {
  name: ProxyName;
  /** The origin the client's URL names (the server's for a forward proxy). */
  origin: string;
  /** A forward proxy's URL. */
  forward?: string;
  /** The proxy's address on the client's side. */
  host: string;
  /** "streaming" or "store-and-forward", as configured. */
  mode: "streaming" | "store-and-forward";
  stop(): Promise<void>;
}

const PORTS: Record<ProxyName, number> = {
  squid: 3128,
  tinyproxy: 8888,
  "nginx-streaming": 8080,
  "nginx-buffered": 8080,
};

function config(
  name: ProxyName,
  dir: string,
  serverPort: number,
): { file: string; args: string[] } {
  const port = PORTS[name];
  if (name === "squid") {
    const file = join(dir, "squid.conf");
    writeFileSync(
      file,
      [
        `http_port ${PROXY_IP}:${port}`,
        "http_access allow all",
        "cache deny all",
        "access_log none",
        // Debian's default, 512 KiB, breaks an upload through a slow
        // uplink: once that much waits, squid 5.7 reads into a full buffer
        // (read(fd, buf, 0) returns 0), takes it for the client's EOF and
        // closes the connection ("other side closed" at ~0.8 s for 1.2 MB
        // and more at 2 Mbit/s; 600 kB passes). `SQUID_BUFFER` overrides.
        `client_request_buffer_max_size ${process.env.SQUID_BUFFER ?? "64 MB"}`,
        `cache_log ${join(dir, "cache.log")}`,
        `pid_filename ${join(dir, "squid.pid")}`,
        `coredump_dir ${dir}`,
        "pinger_enable off",
        "shutdown_lifetime 0 seconds",
        "",
      ].join("\n"),
    );
    // -N: no daemon, no kid processes: the PID we started is squid.
    return { file, args: ["squid", "-N", "-f", file] };
  }
  if (name === "tinyproxy") {
    const file = join(dir, "tinyproxy.conf");
    writeFileSync(
      file,
      [
        `Port ${port}`,
        `Listen ${PROXY_IP}`,
        "Timeout 600",
        "Allow 10.77.1.0/24",
        "MaxClients 64",
        "LogLevel Warning",
        `LogFile "${join(dir, "tinyproxy.log")}"`,
        `PidFile "${join(dir, "tinyproxy.pid")}"`,
        "DisableViaHeader Yes",
        "",
      ].join("\n"),
    );
    // -d: in the foreground.
    return { file, args: ["tinyproxy", "-d", "-c", file] };
  }
  const file = join(dir, "nginx.conf");
  const buffering = name === "nginx-buffered" ? "on" : "off";
  writeFileSync(
    file,
    [
      "daemon off;",
      // One process: the PID we started is the one that proxies.
      "master_process off;",
      "worker_processes 1;",
      `error_log ${join(dir, "error.log")} warn;`,
      `pid ${join(dir, "nginx.pid")};`,
      "events { worker_connections 256; }",
      "http {",
      "  access_log off;",
      `  client_body_temp_path ${join(dir, "body")};`,
      `  proxy_temp_path ${join(dir, "proxy")};`,
      "  server {",
      `    listen ${PROXY_IP}:${port};`,
      "    client_max_body_size 0;",
      `    proxy_request_buffering ${buffering};`,
      "    proxy_http_version 1.1;",
      `    location / { proxy_pass http://${SERVER_IP}:${serverPort}; }`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  return { file, args: ["nginx", "-p", dir, "-c", file] };
}

/** Starts `name` in the lab's proxy namespace, in front of the lab's server. */
export async function startProxy(lab: Lab, name: ProxyName): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), `tb-${name}-`));
  // squid and tinyproxy drop root for their own users: they write here too.
  chmodSync(dir, 0o777);
  for (const sub of ["body", "proxy"]) mkdirSync(join(dir, sub), { mode: 0o777 });
  const { args } = config(name, dir, lab.ports.port);
  const port = PORTS[name];
  const listening = (): boolean => {
    const r = spawnSync(
      "ip",
      ["netns", "exec", lab.proxy, "ss", "-ltnH", "sport", "=", `:${port}`],
      { encoding: "utf8", timeout: 2000 },
    );
    return (r.stdout ?? "").trim().length > 0;
  };
  let proc: Proc;
  try {
    proc = await lab.startInProxy(args, listening, name);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const forward = name === "squid" || name === "tinyproxy";
  return {
    name,
    origin: forward ? lab.origin : `http://${PROXY_IP}:${port}`,
    ...(forward ? { forward: `http://${PROXY_IP}:${port}` } : {}),
    host: PROXY_IP,
    mode: name === "nginx-buffered" ? "store-and-forward" : "streaming",
    async stop() {
      await lab.stopInProxy(proc);
      // LAB_KEEP=1 keeps the configuration and the proxy's logs.
      if (process.env.LAB_KEEP === "1") console.error(`${name}: ${dir} kept`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}
