/**
 * The differential suite (issue 9): the wrapper is invisible when no limit
 * fires. Each request shape is sent through bare `fetch` and through
 * `createFetch` with generous limits (and, for idempotent methods, once more
 * with `retry: {}`), on the same runtime, against the fault server's `/rec`
 * route, which records what it received. Both sides are compared:
 *
 * - **server**: per arrival (a followed redirect shows each hop), method,
 *   path and query, every request header (framing, content type,
 *   authorization, cookie, the caller's own), body length and sha256;
 * - **caller**: status, statusText, ok, redirected, url, type, every header,
 *   `body` non-null, body bytes (read with a BYOB reader where one can be
 *   had), `clone()` (url, redirected, type, same body), `bodyUsed` before and
 *   after, whether the headers are immutable, `instanceof Response`; or,
 *   where the call rejects, the error's name.
 *
 * Each shape also runs through bare `fetch` twice: a field that differs
 * between two bare runs is not the wrapper's doing and is left out (noted).
 * Differences between runtimes are expected; only bare vs wrapped on one
 * runtime fails, except for the short {@linkcode DELIBERATE} table.
 *
 * @module
 */
import { createFetch } from "../../src/mod.ts";
import { armed, clock, KiB, MiB, sha256 } from "./helpers.ts";
import { type Ctx, test } from "./runner.ts";

/**
 * The deliberate differences between bare `fetch` and the wrapper: a field
 * (as printed in a diff) and why it may differ. Only what is inherent to a
 * wrapper belongs here; everything else is a bug.
 */
const DELIBERATE: readonly { field: string; why: string }[] = [
  // The wrapper is a function of its own; naming it `fetch` would only make
  // stack traces lie about where a call went through.
  { field: "caller.fn.name", why: "the returned function's own name" },
];

/**
 * Bugs of a runtime's own fetch that the wrapper does not share: where bare
 * fetch rejects with such an error and the wrapper delivers what the server
 * answered, the shape passes with a note. Matched on bare fetch's error text.
 */
const BARE_BUGS: readonly { error: RegExp; why: string }[] = [
  {
    // Node 20's undici 6 fails any followed redirect of a typed-array body; the
    // wrapper streams it and follows the redirect itself, replaying the buffer.
    error: /detached ArrayBuffer/,
    why: "undici 6 (Node 20) cannot follow a redirect of a typed-array body",
  },
];

/** The limits of the wrapped runs: generous, so none fires. */
const LIMITS = { total: "30s", headers: "10s", readIdle: "10s", writeIdle: "10s" } as const;
/** A run that has not settled by then is recorded as hung (and fails). */
const RUN_LIMIT_MS = 5_000;
/** The streaming threshold of the library (`upload.threshold`'s default). */
const THRESHOLD = 100 * KiB;

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
type Init = RequestInit & { duplex?: "half" };
type Made = { input: RequestInfo | URL; init?: Init };

interface Shape {
  name: string;
  /** Builds the request afresh for each run (bodies and streams are single-use). */
  make(t: Ctx, id: string): Made;
  /** Also run through `createFetch({ ...LIMITS, retry: {} })`. */
  retry?: boolean;
}

/** What one run saw, flattened to `field → value` for the comparison. */
type Flat = Map<string, string>;

// --- building requests ---------------------------------------------------------

/** A `/rec` URL on `base` for `id`, with the route's parameters. */
function rec(base: string, id: string, params: Record<string, string | number> = {}): string {
  const q = new URLSearchParams({ id });
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  return `${base}/rec?${q}`;
}

/** Deterministic bytes (each run of a shape must send the same payload). */
function bytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
function text(n: number): string {
  return "abcdefghijklmnopqrstuvwxyz0123456789".repeat(Math.ceil(n / 36)).slice(0, n);
}
function stream(total: number, piece = 16 * KiB): ReadableStream<Uint8Array> {
  const data = bytes(total, 7);
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= total) return c.close();
      c.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}
async function* generator(total: number): AsyncGenerator<Uint8Array> {
  const data = bytes(total, 9);
  for (let at = 0; at < total; at += 16 * KiB) yield data.slice(at, at + 16 * KiB);
}
function form(fileBytes: number): FormData {
  const f = new FormData();
  f.append("field", "value ✓");
  f.append("file", new Blob([bytes(fileBytes, 3)], { type: "application/x-diff" }), "a.bin");
  return f;
}
function params(n: number): URLSearchParams {
  const p = new URLSearchParams({ a: "1", b: "x y&z" });
  if (n) p.set("big", text(n));
  return p;
}

const AUTH = { authorization: "Bearer secret", cookie: "k=v", "x-diff-custom": "mine" };

/** POST of `body` to `/rec` (extra init merged in). */
function post(name: string, body: () => unknown, extra: Partial<Init> = {}): Shape {
  return {
    name,
    make: (t, id) => ({
      input: rec(t.env.http, id),
      init: { method: "POST", body: body() as BodyInit, ...extra },
    }),
  };
}

// --- observing ---------------------------------------------------------------------

function errorName(e: unknown): string {
  if (e instanceof Error) return e.name;
  if (e && typeof e === "object" && "name" in e) return String((e as { name: unknown }).name);
  return `non-error ${typeof e}`;
}
/** The error and its causes, for the diagnostic line (not compared). */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const ctor =
    e.constructor?.name && e.constructor.name !== e.name ? ` [${e.constructor.name}]` : "";
  const cause = e.cause === undefined ? "" : ` (cause: ${errorText(e.cause)})`;
  return `${e.name}${ctor}: ${e.message}${cause}`;
}
function tryIt(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return `throws ${errorName(e)}`;
  }
}
function headerObject(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of h) out[k] = k in out ? `${out[k]} | ${v}` : v;
  return out;
}
async function hashOf(parts: Uint8Array[]): Promise<string> {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const all = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    all.set(p, n);
    n += p.byteLength;
  }
  return `${all.byteLength} bytes ${(await sha256(all)).slice(0, 16)}`;
}

/** Reads a body: with a BYOB reader if the stream gives one, else a default reader. */
async function readBody(body: ReadableStream<Uint8Array>): Promise<{ byob: string; body: string }> {
  let byob: ReadableStreamBYOBReader | undefined;
  let how = "ok";
  try {
    byob = body.getReader({ mode: "byob" });
  } catch (e) {
    how = `throws ${errorName(e)}`;
  }
  const parts: Uint8Array[] = [];
  try {
    if (byob) {
      for (;;) {
        const r = await byob.read(new Uint8Array(64 * KiB));
        if (r.done) break;
        parts.push(r.value);
      }
    } else {
      const reader = body.getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        parts.push(r.value);
      }
    }
  } catch (e) {
    return { byob: how, body: `read rejects ${errorName(e)}` };
  }
  return { byob: how, body: await hashOf(parts) };
}

/** Everything the caller can see of a response, in a fixed order. */
async function observe(res: Response): Promise<Record<string, unknown>> {
  const o: Record<string, unknown> = {
    outcome: "response",
    instanceOfResponse: res instanceof Response,
    status: res.status,
    statusText: res.statusText,
    ok: res.ok,
    redirected: res.redirected,
    url: res.url,
    type: res.type,
    headers: headerObject(res.headers),
    getSetCookie:
      typeof res.headers.getSetCookie === "function" ? res.headers.getSetCookie() : "absent",
    hasBody: res.body !== null,
    bodyUsedBefore: res.bodyUsed,
  };
  let clone: Response | undefined;
  try {
    clone = res.clone();
    o.clone = {
      instanceOfResponse: clone instanceof Response,
      status: clone.status,
      statusText: clone.statusText,
      url: clone.url,
      redirected: clone.redirected,
      type: clone.type,
      hasBody: clone.body !== null,
    };
  } catch (e) {
    o.clone = `throws ${errorName(e)}`;
  }
  o.headersSet = tryIt(() => res.headers.set("x-probe", "1"));
  if (res.body) {
    const r = await readBody(res.body);
    o.byob = r.byob;
    o.body = r.body;
  } else {
    o.byob = "no body";
    try {
      o.body = `null body; arrayBuffer ${(await res.arrayBuffer()).byteLength} bytes`;
    } catch (e) {
      o.body = `null body; arrayBuffer rejects ${errorName(e)}`;
    }
  }
  o.bodyUsedAfter = res.bodyUsed;
  if (clone) {
    try {
      o.cloneBody = await hashOf([new Uint8Array(await clone.arrayBuffer())]);
    } catch (e) {
      o.cloneBody = `rejects ${errorName(e)}`;
    }
    o.cloneBodyUsedAfter = clone.bodyUsed;
  }
  return o;
}

interface Run {
  flat: Flat;
  /** The same, structured, for the one-line summaries. */
  caller: Record<string, unknown>;
  server: RecHop[];
  /** Not compared: the error text, for the diagnostic line. */
  info?: string;
}

/** What servers.ts records per arrival at `/rec` (its `RecRecord`). */
interface RecHop {
  method: string;
  path: string;
  headers: Record<string, string>;
  complete: boolean;
  bodyBytes: number;
  sha256?: string;
}

/** One run of a shape through `f`; never throws. */
async function runOnce(t: Ctx, f: Fetch, shape: Shape, id: string): Promise<Run> {
  let made: Made;
  try {
    made = shape.make(t, id);
  } catch (e) {
    const caller = { outcome: `request not built: ${errorName(e)}` };
    return { flat: flatten({ caller }), caller, server: [], info: `building: ${errorText(e)}` };
  }
  let info: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = (async () => {
    let res: Response;
    try {
      res = await f(made.input, made.init);
    } catch (e) {
      info = errorText(e);
      return { outcome: "rejected", error: errorName(e) };
    }
    return observe(res);
  })();
  const raw = await Promise.race([
    call,
    new Promise<Record<string, unknown>>((resolve) => {
      timer = setTimeout(
        () => resolve({ outcome: `no answer within ${RUN_LIMIT_MS} ms` }),
        RUN_LIMIT_MS,
      );
    }),
  ]);
  clearTimeout(timer);
  call.catch(() => {});
  // A rejected call may have left before the server finished reading.
  const get = async () =>
    (await (await fetch(`${t.env.http}/_rec?id=${encodeURIComponent(id)}`)).json()) as RecHop[];
  if (raw.outcome !== "response") await new Promise((r) => setTimeout(r, 20));
  let recorded = await get();
  for (let i = 0; i < 6 && recorded.some((h) => !h.complete); i++) {
    await new Promise((r) => setTimeout(r, 50));
    recorded = await get();
  }
  const norm = <T>(v: T): T =>
    JSON.parse(
      JSON.stringify(v ?? null)
        .replaceAll(id, "<id>")
        .replaceAll(t.env.http, "<http>")
        .replaceAll(encodeURIComponent(t.env.http), "<http>")
        .replaceAll(encodeURIComponent(t.env.fresh), "<fresh>")
        .replaceAll(t.env.fresh, "<fresh>"),
    );
  const caller = norm(raw);
  const server = norm(recorded);
  return {
    flat: flatten({ caller, server }),
    caller,
    server,
    ...(info !== undefined ? { info: norm(info) } : {}),
  };
}

/** `{a: {b: 1}}` → `a.b → 1`; arrays of objects by index; other values as JSON. */
function flatten(v: unknown, prefix = "", out: Flat = new Map()): Flat {
  if (v && typeof v === "object" && !(Array.isArray(v) && v.every((x) => typeof x !== "object"))) {
    const entries = Array.isArray(v) ? v.map((x, i) => [`[${i}]`, x] as const) : Object.entries(v);
    if (Array.isArray(v)) out.set(`${prefix}.length`, String(v.length));
    for (const [k, x] of entries) {
      const key = Array.isArray(v) ? `${prefix}${k}` : prefix ? `${prefix}.${k}` : k;
      flatten(x, key, out);
    }
    return out;
  }
  out.set(prefix, JSON.stringify(v));
  return out;
}

function short(v: string | undefined): string {
  if (v === undefined) return "(absent)";
  return v.length > 140 ? `${v.slice(0, 137)}...` : v;
}

function deliberate(field: string): boolean {
  return DELIBERATE.some((d) => field === d.field);
}

/** The fields where `b` differs from `a`, skipping `unstable` ones and the deliberate table. */
function diff(a: Flat, b: Flat, unstable: Set<string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  const out: string[] = [];
  for (const k of keys) {
    if (unstable.has(k) || deliberate(k)) continue;
    if (a.get(k) !== b.get(k))
      out.push(`${k}: bare ${short(a.get(k))} vs wrapped ${short(b.get(k))}`);
  }
  return out;
}

/** One line for what the caller got. */
function callerLine(c: Record<string, unknown>): string {
  if (c.outcome === "rejected") return `rejected ${c.error}`;
  if (c.outcome !== "response") return String(c.outcome);
  return `${c.status} ${JSON.stringify(c.statusText)}, body ${c.body}`;
}

/** One line per arrival at the server. */
function serverLine(hops: RecHop[]): string {
  if (!hops.length) return "nothing arrived";
  return hops
    .map((h) => {
      const path = h.path.replace(/&loc=[^&]*/, "&loc=…");
      const cl = h.headers["content-length"];
      const te = h.headers["transfer-encoding"];
      const framing = cl !== undefined ? `content-length ${cl}` : te ? `te ${te}` : "no framing";
      const body = h.complete ? `${h.bodyBytes} B ${h.sha256?.slice(0, 8)}` : "incomplete";
      return `${h.method} ${path} (${framing}, ${body})`;
    })
    .join(" → ");
}

/**
 * The differences of one run, compact: a different outcome or a different
 * number of arrivals is one summary line (not every field it drags along).
 */
function compare(a: Run, b: Run, unstable: Set<string>): string[] {
  let lines = diff(a.flat, b.flat, unstable);
  if (!lines.length) return lines;
  const out: string[] = [];
  if (a.caller.outcome !== b.caller.outcome) {
    lines = lines.filter((l) => !l.startsWith("caller."));
    out.push(`caller: bare ${callerLine(a.caller)} vs wrapped ${callerLine(b.caller)}`);
  }
  if (a.server.length !== b.server.length) {
    lines = lines.filter((l) => !l.startsWith("server"));
    out.push(`server: bare ${serverLine(a.server)}\n        vs wrapped ${serverLine(b.server)}`);
  }
  return [...out, ...lines];
}

const wrapped = createFetch({ ...LIMITS, clock }) as Fetch;
const retrying = createFetch({ ...LIMITS, retry: {}, clock }) as Fetch;

/**
 * Runs every shape of a group and fails with one compact diff per shape
 * (field: bare vs wrapped) where the wrapper differs. Lines shared by at
 * least half of the runs are printed once, up front.
 */
async function differential(t: Ctx, slug: string, shapes: Shape[]): Promise<void> {
  const bare: Fetch = (input, init) => fetch(input, init);
  const failures: { label: string; lines: string[] }[] = [];
  const failedShapes = new Set<string>();
  let runs = 0;
  for (const shape of shapes) {
    const a = await runOnce(t, bare, shape, t.id(`diff-${slug}-bare`));
    const a2 = await runOnce(t, bare, shape, t.id(`diff-${slug}-bare2`));
    const unstable = new Set(diff(a.flat, a2.flat, new Set()).map((d) => d.split(":")[0]!));
    if (unstable.size) t.note(`${shape.name}: bare fetch unstable in ${[...unstable].join(", ")}`);
    if (a.caller.outcome !== "response") {
      t.note(`${shape.name}: bare fetch ${callerLine(a.caller)} (${a.info})`);
    }
    const variants: [string, Fetch][] = [["wrapped", wrapped]];
    if (shape.retry) variants.push(["wrapped+retry", retrying]);
    for (const [label, f] of variants) {
      runs++;
      const before = armed();
      const b = await runOnce(t, f, shape, t.id(`diff-${slug}-${label.replace("+", "-")}`));
      const bug = BARE_BUGS.find((x) => x.error.test(a.info ?? ""));
      if (bug && a.caller.outcome === "rejected" && b.caller.outcome === "response") {
        t.note(`${shape.name} [${label}]: bare fetch's bug, not the wrapper's: ${bug.why}`);
        continue;
      }
      const lines = compare(a, b, unstable);
      // Bare fetch leaves no timer behind; once the call has settled and its
      // body is read, neither may the wrapper (its deadline must be disarmed).
      await new Promise((r) => setTimeout(r, 10));
      if (armed() > before) {
        lines.push(
          `library timers armed after the call settled: bare 0 vs wrapped ${armed() - before}`,
        );
      }
      if (!lines.length) continue;
      if (a.info !== b.info) lines.push(`(bare: ${a.info ?? "-"}; wrapped: ${b.info ?? "-"})`);
      failures.push({ label: `${shape.name} [${label}]`, lines });
      failedShapes.add(shape.name);
    }
  }
  if (!failures.length) return;
  const count = new Map<string, number>();
  for (const f of failures) for (const l of new Set(f.lines)) count.set(l, (count.get(l) ?? 0) + 1);
  const common = [...count].filter(([, n]) => n >= 3 && n * 2 >= runs).map(([l]) => l);
  const out = [`${failedShapes.size} of ${shapes.length} shapes differ from bare fetch`];
  if (common.length) {
    out.push(`in most runs (${Math.min(...common.map((l) => count.get(l)!))}+ of ${runs}):`);
    for (const l of common) out.push(`  ${l}`);
  }
  const onlyCommon: string[] = [];
  for (const f of failures) {
    const rest = f.lines.filter((l) => !common.includes(l));
    if (!rest.length) onlyCommon.push(f.label);
    else
      out.push(
        `${f.label}${common.length ? " (besides the common ones)" : ""}:`,
        ...rest.map((l) => `  ${l}`),
      );
  }
  if (onlyCommon.length) out.push(`only the common differences: ${onlyCommon.join("; ")}`);
  throw new Error(out.join("\n"));
}

function group(name: string, slug: string, shapes: (t: Ctx) => Shape[]): void {
  test(`differential: ${name}`, (t) => differential(t, slug, shapes(t)), { timeoutMs: 90_000 });
}

// --- the matrix -------------------------------------------------------------------

const SIZES = [
  ["small", 5],
  ["100 KiB", THRESHOLD],
  ["100 KiB + 1", THRESHOLD + 1],
  ["1 MiB", MiB],
] as const;

group("request bodies (POST)", "body", () => [
  post("no body", () => undefined),
  ...SIZES.map(([label, n]) => post(`string ${label}`, () => text(n))),
  post("string, non-ASCII", () => "grüße ✓ 😀"),
  post("string with the caller's content-type", () => '{"a":1}', {
    headers: { "content-type": "application/json", "x-diff-custom": "mine" },
  }),
  ...SIZES.map(([label, n]) => post(`Uint8Array ${label}`, () => bytes(n))),
  post("Uint8Array view at an offset, 100 KiB + 1", () =>
    bytes(THRESHOLD + 20).subarray(7, THRESHOLD + 8),
  ),
  post("ArrayBuffer small", () => bytes(5).buffer),
  post("ArrayBuffer 100 KiB + 1", () => bytes(THRESHOLD + 1).buffer),
  post("DataView small", () => new DataView(bytes(16).buffer, 3, 5)),
  post(
    "DataView at an offset, 100 KiB + 1",
    () => new DataView(bytes(THRESHOLD + 10).buffer, 3, THRESHOLD + 1),
  ),
  post("Blob with a type, small", () => new Blob(["blob!"], { type: "application/x-diff" })),
  post(
    "Blob with a type, 100 KiB + 1",
    () => new Blob([bytes(THRESHOLD + 1)], { type: "application/x-diff" }),
  ),
  post("Blob without a type, 100 KiB + 1", () => new Blob([bytes(THRESHOLD + 1)])),
  post("URLSearchParams small", () => params(0)),
  post("URLSearchParams > 100 KiB", () => params(THRESHOLD + 1)),
  post("FormData small (string + Blob file)", () => form(64)),
  post("FormData ~2 MiB (string + Blob file)", () => form(2 * MiB)),
  post("ReadableStream small (duplex half)", () => stream(100), { duplex: "half" }),
  post("ReadableStream 1 MiB (duplex half)", () => stream(MiB), { duplex: "half" }),
  post("async generator 64 KiB (duplex half)", () => generator(64 * KiB), { duplex: "half" }),
  post("keepalive: true, small body", () => "ping", { keepalive: true }),
]);

group("methods and headers", "method", () => {
  const m = (
    method: string,
    body?: () => unknown,
    retry = false,
    extra: Partial<Init> = {},
  ): Shape => ({
    name: `${method}${body ? " with a body" : ""}${extra.headers ? " + headers" : ""}`,
    retry,
    make: (t, id) => ({
      input: rec(t.env.http, id),
      init: { method, ...(body ? { body: body() as BodyInit } : {}), ...extra },
    }),
  });
  return [
    m("GET", undefined, true),
    m("HEAD", undefined, true),
    m("POST"),
    m("PUT", () => "x", true),
    m("DELETE", undefined, true),
    m("DELETE", () => "x", true),
    m("PATCH", () => "x"),
    m("OPTIONS", undefined, true),
    m("patch", () => "x"),
    m("post", () => "x"),
    m("put", () => "x", true),
    { ...m("PUT", () => bytes(THRESHOLD + 1), true), name: "PUT Uint8Array 100 KiB + 1" },
    {
      ...m("PUT", () => new Blob([bytes(THRESHOLD + 1)], { type: "x/y" }), true),
      name: "PUT Blob 100 KiB + 1",
    },
    {
      ...m("PUT", () => stream(64 * KiB), true, { duplex: "half" }),
      name: "PUT ReadableStream (duplex half)",
    },
    {
      ...m("PUT", () => generator(64 * KiB), true, { duplex: "half" }),
      name: "PUT async generator (duplex half)",
    },
    { ...m("GET", undefined, true, { headers: new Headers(AUTH) }), name: "GET, Headers object" },
    {
      ...m("GET", undefined, true, { headers: Object.entries(AUTH) }),
      name: "GET, headers as pairs",
    },
    { ...m("POST", () => "x", false, { headers: AUTH }), name: "POST, headers as a record" },
    {
      name: "GET, URL object input",
      retry: true,
      make: (t, id) => ({ input: new URL(rec(t.env.http, id)) }),
    },
    {
      name: "GET, no init at all",
      retry: true,
      make: (t, id) => ({ input: rec(t.env.http, id) }),
    },
  ];
});

group("Request input", "request", () => {
  const req = (name: string, build: (url: string) => Made, retry = false): Shape => ({
    name,
    retry,
    make: (t, id) => build(rec(t.env.http, id)),
  });
  const aborted = () => {
    const c = new AbortController();
    c.abort();
    return c.signal;
  };
  return [
    req("Request GET", (u) => ({ input: new Request(u) }), true),
    req("Request GET + headers", (u) => ({ input: new Request(u, { headers: AUTH }) }), true),
    req("Request POST, string body", (u) => ({
      input: new Request(u, { method: "POST", body: "buffered" }),
    })),
    req(
      "Request PUT, Uint8Array 100 KiB + 1",
      (u) => ({ input: new Request(u, { method: "PUT", body: bytes(THRESHOLD + 1) }) }),
      true,
    ),
    req("Request POST, FormData", (u) => ({
      input: new Request(u, { method: "POST", body: form(64) }),
    })),
    req("Request POST, Blob with a type", (u) => ({
      input: new Request(u, { method: "POST", body: new Blob(["b"], { type: "a/b" }) }),
    })),
    req("Request POST + init overriding method and body", (u) => ({
      input: new Request(u, { method: "POST", body: "from the request" }),
      init: { method: "PUT", body: "from init" },
    })),
    req("Request GET + init headers", (u) => ({
      input: new Request(u, { headers: { "x-a": "1" } }),
      init: { headers: { "x-b": "2" } },
    })),
    req("Request keepalive: false", (u) => ({ input: new Request(u, { keepalive: false }) }), true),
    req("Request keepalive: true, POST small", (u) => ({
      input: new Request(u, { method: "POST", body: "k", keepalive: true }),
    })),
    req("Request cache: no-store", (u) => ({ input: new Request(u, { cache: "no-store" }) }), true),
    req("Request cache: no-cache", (u) => ({ input: new Request(u, { cache: "no-cache" }) }), true),
    req(
      "Request credentials: omit",
      (u) => ({ input: new Request(u, { credentials: "omit", headers: AUTH }) }),
      true,
    ),
    req(
      "Request referrerPolicy: no-referrer",
      (u) => ({ input: new Request(u, { referrerPolicy: "no-referrer" }) }),
      true,
    ),
    req(
      "Request mode: same-origin",
      (u) => ({ input: new Request(u, { mode: "same-origin" }) }),
      true,
    ),
    {
      name: "Request redirect: manual, to a 302",
      retry: true,
      make: (t, id) => ({
        input: new Request(
          rec(t.env.http, id, { redirect: 302, loc: rec(t.env.http, id, { hop: 2 }) }),
          {
            redirect: "manual",
          },
        ),
      }),
    },
    {
      name: "Request with every extra property, to a 302",
      retry: true,
      make: (t, id) => ({
        input: new Request(
          rec(t.env.http, id, { redirect: 302, loc: rec(t.env.http, id, { hop: 2 }) }),
          {
            keepalive: false,
            cache: "no-store",
            credentials: "omit",
            redirect: "manual",
            referrerPolicy: "no-referrer",
          },
        ),
      }),
    },
    req("Request with an aborted signal", (u) => ({
      input: new Request(u, { signal: aborted() }),
    })),
    req("Request with an aborted signal, init.signal live", (u) => ({
      input: new Request(u, { signal: aborted() }),
      init: { signal: new AbortController().signal },
    })),
    req("init.signal already aborted", (u) => ({ input: u, init: { signal: aborted() } })),
  ];
});

group("redirects", "redirect", () => {
  const shapes: Shape[] = [];
  const to = (
    t: Ctx,
    id: string,
    code: number,
    cross: boolean,
    extra: Record<string, string> = {},
  ) =>
    rec(t.env.http, id, {
      redirect: code,
      loc: rec(cross ? t.env.fresh : t.env.http, id, { hop: 2 }),
      ...extra,
    });
  for (const code of [301, 302, 303, 307, 308]) {
    shapes.push(
      { name: `${code} GET`, retry: true, make: (t, id) => ({ input: to(t, id, code, false) }) },
      {
        name: `${code} POST string`,
        make: (t, id) => ({
          input: to(t, id, code, false),
          init: { method: "POST", body: "redirected body" },
        }),
      },
      {
        name: `${code} PUT Uint8Array 100 KiB + 1`,
        retry: true,
        make: (t, id) => ({
          input: to(t, id, code, false),
          init: { method: "PUT", body: bytes(THRESHOLD + 1) },
        }),
      },
      {
        name: `${code} POST ReadableStream`,
        make: (t, id) => ({
          input: to(t, id, code, false),
          init: { method: "POST", body: stream(1000), duplex: "half" },
        }),
      },
      {
        name: `${code} cross-origin GET with authorization, cookie, custom header`,
        retry: true,
        make: (t, id) => ({ input: to(t, id, code, true), init: { headers: AUTH } }),
      },
      {
        name: `${code} cross-origin POST FormData with authorization`,
        make: (t, id) => ({
          input: to(t, id, code, true),
          init: { method: "POST", body: form(64), headers: { authorization: "Bearer secret" } },
        }),
      },
    );
  }
  shapes.push(
    {
      name: "302 redirect: manual",
      retry: true,
      make: (t, id) => ({ input: to(t, id, 302, false), init: { redirect: "manual" } }),
    },
    {
      name: "307 redirect: manual, POST",
      make: (t, id) => ({
        input: to(t, id, 307, false),
        init: { redirect: "manual", method: "POST", body: "m" },
      }),
    },
    {
      name: "302 redirect: error",
      retry: true,
      make: (t, id) => ({ input: to(t, id, 302, false), init: { redirect: "error" } }),
    },
    {
      name: "302 redirect: follow, to a 204",
      retry: true,
      make: (t, id) => ({
        input: rec(t.env.http, id, {
          redirect: 302,
          loc: rec(t.env.http, id, { hop: 2, status: 204 }),
        }),
      }),
    },
  );
  return shapes;
});

group("statuses and status texts", "status", () => {
  const s = (name: string, p: Record<string, string | number>, init?: RequestInit): Shape => ({
    name,
    retry: (init?.method ?? "GET") === "GET" || init?.method === "HEAD",
    make: (t, id) => ({ input: rec(t.env.http, id, p), ...(init ? { init } : {}) }),
  });
  return [
    s("200", {}),
    s("200, empty body", { size: 0 }),
    s("200, 256 KiB body", { size: 256 * KiB }),
    s("HEAD 200", {}, { method: "HEAD" }),
    s("203", { status: 203 }),
    s("204", { status: 204 }),
    s("204 to a POST", { status: 204 }, { method: "POST", body: "x" }),
    s("299", { status: 299 }),
    s("304", { status: 304 }),
    s("400", { status: 400 }),
    s("404 with a body", { status: 404, size: 100 }),
    s("599", { status: 599 }),
    s("200 with a custom status text", { text: "Fine Indeed" }),
    s("200 with a Latin-1 status text (é)", { text: "Café" }),
    s("raw 999", { raw: 1, status: 999, text: "Request denied" }),
    s("raw 200, UTF-8 status text", { raw: 1, text: "Grüße ✓" }),
    s("raw 200, Latin-1 status text", { raw: 1, text: "Café", enc: "latin1" }),
    s("raw 200, empty status text", { raw: 1 }),
    s("raw 599, no text", { raw: 1, status: 599 }),
    s("raw 204", { raw: 1, status: 204 }),
  ];
});

group("the function and bad arguments", "args", () => {
  const bad = (name: string, input: () => unknown, init?: () => unknown): Shape => ({
    name,
    make: () => ({ input: input() as string, ...(init ? { init: init() as RequestInit } : {}) }),
  });
  return [
    bad("invalid URL", () => "not a url"),
    bad("unsupported scheme", () => "ftp://127.0.0.1/x"),
    bad("no input", () => undefined),
    bad(
      "GET with a body",
      () => "http://127.0.0.1:9/",
      () => ({ body: "x" }),
    ),
    bad(
      "stream body without duplex",
      () => "http://127.0.0.1:9/",
      () => ({ method: "POST", body: stream(10) }),
    ),
    bad(
      "bad method",
      () => "http://127.0.0.1:9/",
      () => ({ method: "bad method" }),
    ),
    bad(
      "forbidden method CONNECT",
      () => "http://127.0.0.1:9/",
      () => ({ method: "CONNECT" }),
    ),
    bad(
      "non-signal signal",
      () => "http://127.0.0.1:9/",
      () => ({ signal: {} }),
    ),
    bad(
      "bad redirect mode",
      () => "http://127.0.0.1:9/",
      () => ({ redirect: "nope" }),
    ),
    bad("connection refused", () => "http://127.0.0.1:9/"),
  ];
});

test("differential: the function itself", async () => {
  const f = createFetch(LIMITS) as Fetch;
  const see = (g: Fetch) =>
    flatten({
      caller: {
        fn: { typeof: typeof g, name: g.name, length: g.length },
      },
    });
  const d = diff(see(fetch), see(f), new Set());
  if (d.length) throw new Error(`the function differs from bare fetch:\n  ${d.join("\n  ")}`);
});

test("differential: many calls in flight sharing one signal", async (t) => {
  // Thirty at once through one caller's signal: bare fetch gives each its
  // listener but Node's undici lifts the signal's listener limit, so no
  // `MaxListenersExceededWarning`; the wrapper must not warn either.
  // Warnings are a Node-ism (`process.on("warning")`); elsewhere only the
  // answers are compared.
  type OnWarning = (event: "warning", fn: (w: Error) => void) => void;
  const proc = (globalThis as { process?: { on?: OnWarning; off?: OnWarning } }).process;
  const listen = typeof proc?.on === "function" && typeof proc.off === "function";
  const run = async (g: Fetch, slug: string) => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    if (listen) proc!.on!("warning", onWarning);
    try {
      const ac = new AbortController();
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const res = await g(rec(t.env.http, t.id(`${slug}-${i}`)), { signal: ac.signal });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      await new Promise((r) => setTimeout(r, 10)); // warnings come on a later tick
      return { statuses, warnings };
    } finally {
      if (listen) proc!.off!("warning", onWarning);
    }
  };
  const before = armed();
  const bare = await run(fetch, "fan-bare");
  const wrapped = await run(createFetch({ ...LIMITS, clock }) as Fetch, "fan-wrapped");
  const d = diff(flatten({ caller: bare }), flatten({ caller: wrapped }), new Set());
  if (d.length)
    throw new Error(`30 calls on one signal differ from bare fetch:\n  ${d.join("\n  ")}`);
  if (armed() > before) throw new Error(`${armed() - before} library timers still armed`);
});
