/**
 * A tiny runtime-neutral test runner: `test(name, fn)` registers a case,
 * `runAll()` runs them one after another with a per-case time limit and
 * reports each result as an event. It uses only what Node, Deno, Bun and
 * workerd all have, so the same bundle runs everywhere.
 *
 * @module
 */

/** What the orchestrator hands to every runtime. */
export interface Env {
  /** Label of the runtime under test, e.g. `node20`, `deno`, `workerd`. */
  runtime: string;
  /** Base URL of the fault server. */
  http: string;
  /** The same routes, one request per connection (see servers.ts). */
  fresh: string;
  /** Base URL of the TCP black hole. */
  blackhole: string;
  /** workerd only: the worker's own base URL, where it serves the Hono app under test. */
  front?: string;
  /** Only cases whose name contains this run (for quick iteration). */
  filter?: string;
}

/** The engine actually running, whatever the label says. */
export type RuntimeKind = "node" | "deno" | "bun" | "workerd";

/** Handed to each case. */
export interface Ctx {
  env: Env;
  kind: RuntimeKind;
  /** A request id unique to this runtime and case, for the server's stats. */
  id(slug: string): string;
  /** Records a runtime difference; printed beside the result. */
  note(message: string): void;
  /** Active resources of the process before the first case (Node only). */
  baselineResources: string[];
}

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  notes: string[];
}

export type RunnerEvent =
  | { type: "start"; runtime: string; kind: RuntimeKind; cases: string[] }
  | ({ type: "case" } & CaseResult)
  | { type: "done"; passed: number; failed: number };

type CaseFn = (t: Ctx) => Promise<void> | void;

const registry: { name: string; fn: CaseFn; timeoutMs: number }[] = [];

/** Generous by design: a case that needs longer is stuck, not slow. */
const DEFAULT_CASE_TIMEOUT_MS = 30_000;
/** Catches rejections that surface after the last case. */
const FINAL_CASE = "no unhandled rejection after the last case";

/** Registers a case. */
export function test(name: string, fn: CaseFn, options: { timeoutMs?: number } = {}): void {
  registry.push({ name, fn, timeoutMs: options.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS });
}

interface Globals {
  Deno?: unknown;
  Bun?: unknown;
  navigator?: { userAgent?: string };
  process?: {
    versions?: { node?: string };
    on(event: string, fn: (reason: unknown) => void): void;
    off(event: string, fn: (reason: unknown) => void): void;
    getActiveResourcesInfo?: () => string[];
  };
  addEventListener?: (type: string, fn: (e: Event) => void) => void;
  removeEventListener?: (type: string, fn: (e: Event) => void) => void;
}
const g = globalThis as unknown as Globals;

export function runtimeKind(): RuntimeKind {
  if (g.Deno) return "deno";
  if (g.Bun) return "bun";
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  return "node";
}

/** Active resources (Node's `process.getActiveResourcesInfo()`), or `[]` elsewhere. */
export function activeResources(): string[] {
  return runtimeKind() === "node" ? (g.process?.getActiveResourcesInfo?.() ?? []) : [];
}

/**
 * Catches unhandled rejections the way each runtime reports them; returns
 * the uninstaller. Catching them also stops Node and Bun from exiting on
 * the first one, so the run reports it instead of dying.
 */
function onUnhandled(record: (reason: unknown) => void): () => void {
  const kind = runtimeKind();
  if ((kind === "node" || kind === "bun") && g.process) {
    const p = g.process;
    p.on("unhandledRejection", record);
    return () => p.off("unhandledRejection", record);
  }
  const listener = (e: Event) => {
    e.preventDefault();
    record((e as PromiseRejectionEvent).reason);
  };
  g.addEventListener?.("unhandledrejection", listener);
  return () => g.removeEventListener?.("unhandledrejection", listener);
}

/** Runs the registered cases in order and emits one event per case. */
export async function runAll(env: Env, emit: (event: RunnerEvent) => void): Promise<number> {
  const kind = runtimeKind();
  const cases = registry.filter((c) => !env.filter || c.name.includes(env.filter));
  const unhandled: unknown[] = [];
  const uninstall = onUnhandled((reason) => unhandled.push(reason));
  const baselineResources = activeResources();
  emit({
    type: "start",
    runtime: env.runtime,
    kind,
    cases: [...cases.map((c) => c.name), FINAL_CASE],
  });
  let passed = 0;
  let failed = 0;
  const report = (r: CaseResult) => {
    if (r.ok) passed++;
    else failed++;
    emit({ type: "case", ...r });
  };
  let seq = 0;
  // Rejections already charged to the case during which they surfaced.
  let attributed = 0;
  try {
    for (const c of cases) {
      const notes: string[] = [];
      const ctx: Ctx = {
        env,
        kind,
        id: (slug) => `${env.runtime}.${slug}.${++seq}`,
        note: (m) => notes.push(m),
        baselineResources,
      };
      const before = unhandled.length;
      const t0 = performance.now();
      let error: string | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          (async () => c.fn(ctx))(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`case did not finish within ${c.timeoutMs} ms`)),
              c.timeoutMs,
            );
          }),
        ]);
      } catch (e) {
        error = describe(e);
      } finally {
        clearTimeout(timer);
      }
      // A rejection the case left unhandled is reported a turn or two later.
      await new Promise((r) => setTimeout(r, 10));
      if (unhandled.length > before) {
        error ??= `unhandled rejection: ${describe(unhandled[before])}`;
        attributed = unhandled.length;
      }
      const ms = Math.round(performance.now() - t0);
      report({ name: c.name, ok: error === undefined, ms, notes, ...(error ? { error } : {}) });
    }
    await new Promise((r) => setTimeout(r, 50));
    const late = unhandled.slice(attributed);
    report({
      name: FINAL_CASE,
      ok: late.length === 0,
      ms: 0,
      notes: [],
      ...(late.length ? { error: late.map(describe).join("; ") } : {}),
    });
  } finally {
    uninstall();
  }
  emit({ type: "done", passed, failed });
  return failed;
}

/** One line that says what an error was, with its name and cause. */
export function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause === undefined ? "" : ` (cause: ${describe(e.cause)})`;
    return `${e.name}: ${e.message}${cause}`;
  }
  try {
    return `non-error: ${JSON.stringify(e)}`;
  } catch {
    return `non-error: ${String(e)}`;
  }
}

/** Throws with `message` unless `cond` holds. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Resolves to what `p` rejected with; throws if it fulfilled. */
export async function rejection(p: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error(`${what}: expected a rejection, got a value`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
