/**
 * Runs independent tasks on worker threads where the runtime has them, and
 * on the calling thread everywhere else. Runtime-neutral: no `node:` import.
 * Node's (and Bun's and Deno's) `worker_threads` is reached through
 * `process.getBuiltinModule` (Node ≥ 20.16), which a runtime without it
 * simply lacks; the Web `Worker` is the fallback (Deno, Bun, browsers);
 * workerd has neither and runs tasks in-thread.
 *
 * Results come back in task order whatever the scheduling, so callers that
 * merge them in that order get the same answer on one thread or many.
 *
 * @module
 */

/** How to run one kind of task: in a worker module, or locally. */
export interface TaskRunner<P, T, R> {
  /** A module that calls {@linkcode serveTasks} with the same function as `local`. */
  moduleUrl: URL;
  /** Runs a task on the calling thread; `report(n)` tells progress in units of work. */
  local: (plan: P, task: T, report: (n: number) => void) => R;
}

/** Options of {@linkcode runTasks}. */
export interface RunTasksOptions {
  /** Worker count, or `"auto"` (one per core). `1`: the calling thread. @default "auto" */
  workers?: number | "auto";
  /** Progress in units of work, as tasks report it. */
  onProgress?: (n: number) => void;
  /** Stops the run: workers are terminated and the promise rejects with the reason. */
  signal?: AbortSignal | undefined;
}

type Message =
  | { type: "ready" }
  | { type: "progress"; n: number }
  | { type: "result"; id: number; result: unknown }
  | { type: "error"; id: number; message: string };

/** The part of a worker (Node's or the Web's) this module uses. */
interface AnyWorker {
  post(message: unknown): void;
  onMessage(fn: (message: Message) => void): void;
  onError(fn: (error: unknown) => void): void;
  terminate(): void;
}

interface NodeWorkerThreads {
  Worker: new (
    url: URL,
    options?: object,
  ) => {
    postMessage(m: unknown): void;
    on(event: string, fn: (arg: never) => void): void;
    terminate(): Promise<number>;
    unref(): void;
  };
  parentPort: {
    postMessage(m: unknown): void;
    on(event: "message", fn: (m: unknown) => void): void;
  } | null;
}

/** Node's worker_threads, if this runtime offers it without an import. */
function nodeWorkerThreads(): NodeWorkerThreads | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:worker_threads") as NodeWorkerThreads | undefined;
  } catch {
    return undefined;
  }
}

/**
 * Cores, as the runtime reports them (`navigator.hardwareConcurrency`: Node
 * ≥ 21, Deno, Bun, browsers); 1 when it does not say.
 *
 * @example
 * ```ts
 * import { availableCores } from "timebound/sim";
 * console.assert(availableCores() >= 1);
 * ```
 */
export function availableCores(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? n : 1;
}

function spawn(url: URL): AnyWorker | undefined {
  const wt = nodeWorkerThreads();
  if (wt?.Worker) {
    const w = new wt.Worker(url);
    return {
      post: (m) => w.postMessage(m),
      onMessage: (fn) => w.on("message", fn as (m: never) => void),
      onError: (fn) => w.on("error", fn as (e: never) => void),
      terminate: () => void w.terminate(),
    };
  }
  const WebWorker = (globalThis as { Worker?: new (url: URL, o?: object) => Worker }).Worker;
  if (typeof WebWorker === "function") {
    const w = new WebWorker(url, { type: "module" });
    return {
      post: (m) => w.postMessage(m),
      onMessage: (fn) => {
        w.onmessage = (e: MessageEvent) => fn(e.data as Message);
      },
      onError: (fn) => {
        w.onerror = (e) => {
          e.preventDefault?.();
          fn(e);
        };
      },
      terminate: () => w.terminate(),
    };
  }
  return undefined;
}

/**
 * Whether this runtime can run tasks on worker threads.
 *
 * @example
 * ```ts
 * import { hasWorkers } from "timebound/sim";
 * console.assert(typeof hasWorkers() === "boolean"); // true on Node, Deno and Bun
 * ```
 */
export function hasWorkers(): boolean {
  return (
    nodeWorkerThreads()?.Worker !== undefined ||
    typeof (globalThis as { Worker?: unknown }).Worker === "function"
  );
}

/** Yields to the host's macrotask queue, so progress can be drawn and aborts seen between tasks. */
const yieldToHost = (): Promise<void> =>
  new Promise((resolve) => {
    const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
    if (typeof g.setImmediate === "function") g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });

async function runLocal<P, T, R>(
  runner: TaskRunner<P, T, R>,
  plan: P,
  tasks: T[],
  options: RunTasksOptions,
): Promise<R[]> {
  const out: R[] = [];
  for (const task of tasks) {
    options.signal?.throwIfAborted();
    out.push(runner.local(plan, task, (n) => options.onProgress?.(n)));
    await yieldToHost();
  }
  options.signal?.throwIfAborted();
  return out;
}

/**
 * Runs `tasks` with `plan` on `workers` threads in all: the calling thread
 * and `workers − 1` worker threads, when the runtime has workers; else one
 * after another on the calling thread. The calling thread works too, so the
 * first tasks do not wait for the workers to start (a Node worker takes
 * ~0.3 s to load the simulator). Results are in task order.
 *
 * @example
 * ```ts
 * import { runTasks } from "timebound/sim";
 * const runner = { moduleUrl: new URL("data:,"), local: (plan, task) => plan * task };
 * const out = await runTasks(runner, 10, [1, 2, 3], { workers: 1 });
 * console.assert(out.join() === "10,20,30");
 * ```
 */
export async function runTasks<P, T, R>(
  runner: TaskRunner<P, T, R>,
  plan: P,
  tasks: T[],
  options: RunTasksOptions = {},
): Promise<R[]> {
  options.signal?.throwIfAborted();
  const wanted =
    options.workers === undefined || options.workers === "auto"
      ? availableCores()
      : options.workers;
  const count = Math.min(wanted, tasks.length);
  if (count <= 1 || !hasWorkers()) return runLocal(runner, plan, tasks, options);

  const results: R[] = new Array(tasks.length);
  const pool: AnyWorker[] = [];
  let next = 0;
  let finished = 0;
  return await new Promise<R[]>((resolve, reject) => {
    let settled = false;
    const stop = (error: unknown) => {
      if (settled) return;
      settled = true;
      for (const w of pool) w.terminate();
      options.signal?.removeEventListener("abort", onAbort);
      if (error === undefined) resolve(results);
      else reject(error);
    };
    const onAbort = () => stop(options.signal!.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const complete = () => {
      if (++finished === tasks.length) stop(undefined);
    };
    const feed = (w: AnyWorker) => {
      if (!settled && next < tasks.length) {
        const id = next++;
        w.post({ type: "task", id, task: tasks[id] });
      }
    };
    for (let i = 0; i < count - 1; i++) {
      // A worker that cannot start (no module workers here, a bundler that
      // did not keep the worker module) costs nothing but its thread: the
      // calling thread does its share. It gets tasks only once ready, so
      // none is lost.
      let w: AnyWorker | undefined;
      try {
        w = spawn(runner.moduleUrl);
      } catch {
        continue;
      }
      if (!w) continue;
      const worker = w;
      let ready = false;
      pool.push(worker);
      worker.onError((error) => {
        if (ready) stop(error);
        else worker.terminate();
      });
      worker.onMessage((m) => {
        if (settled) return;
        if (m.type === "ready") {
          ready = true;
          // Two tasks in hand: the calling thread, busy with its own task,
          // may answer a result only a task later, and the worker should
          // not sit idle meanwhile.
          feed(worker);
          feed(worker);
        } else if (m.type === "progress") options.onProgress?.(m.n);
        else if (m.type === "error") stop(new Error(`Worker task ${m.id} failed: ${m.message}`));
        else {
          results[m.id] = m.result as R;
          complete();
          feed(worker);
        }
      });
      worker.post({ type: "plan", plan });
    }
    // The calling thread takes tasks too, yielding between them so worker
    // messages, progress and aborts are handled.
    void (async () => {
      try {
        while (!settled && next < tasks.length) {
          const id = next++;
          results[id] = runner.local(plan, tasks[id]!, (n) => options.onProgress?.(n));
          complete();
          await yieldToHost();
        }
      } catch (error) {
        stop(error);
      }
    })();
  });
}

/**
 * Serves tasks inside a worker: receives the plan, then tasks, runs each
 * with `run` and posts the result (and progress) back. Call it at the top of
 * a worker module; it does nothing on a main thread.
 *
 * @example
 * ```ts
 * // A worker module (see sim/sweep-worker.ts) is one line:
 * //   serveTasks((plan, task, report) => runSweepTask(plan, task, report));
 * import { serveTasks } from "timebound/sim";
 * console.assert(typeof serveTasks === "function");
 * ```
 */
export function serveTasks<P, T, R>(
  run: (plan: P, task: T, report: (n: number) => void) => R,
): void {
  const wt = nodeWorkerThreads();
  let post: (m: Message) => void;
  let listen: (fn: (m: unknown) => void) => void;
  if (wt?.parentPort) {
    const port = wt.parentPort;
    post = (m) => port.postMessage(m);
    listen = (fn) => port.on("message", fn);
  } else {
    const self = globalThis as {
      postMessage?: (m: unknown) => void;
      WorkerGlobalScope?: unknown;
      onmessage?: ((e: MessageEvent) => void) | null;
    };
    if (self.WorkerGlobalScope === undefined || typeof self.postMessage !== "function") return;
    post = (m) => self.postMessage!(m);
    listen = (fn) => {
      self.onmessage = (e) => fn(e.data);
    };
  }
  let plan: P | undefined;
  listen((raw) => {
    const m = raw as { type: "plan"; plan: P } | { type: "task"; id: number; task: T };
    if (m.type === "plan") {
      plan = m.plan;
      return;
    }
    try {
      const result = run(plan as P, m.task, (n) => post({ type: "progress", n }));
      post({ type: "result", id: m.id, result });
    } catch (error) {
      post({
        type: "error",
        id: m.id,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  });
  // Tasks are sent only once the worker says it is ready: until then the
  // calling thread keeps them.
  post({ type: "ready" });
}
