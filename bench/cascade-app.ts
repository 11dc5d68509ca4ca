/**
 * The service under load in the cascade bench (a child process): a Hono app
 * on @hono/node-server whose `GET /quote` calls the upstream's `/api`, with
 * a concurrency cap of `CAP` handler slots (a connection pool, a worker
 * pool: every real service has one). Requests beyond the cap wait in line.
 *
 * VARIANT=plain:     `fetch` as is; the wait for a slot is unbounded.
 * VARIANT=timebound: `timebound({ total: TOTAL_MS })`; the wait for a slot
 *                    and the upstream call share the request's deadline
 *                    (`c.var.deadline.within`, `c.var.fetch`).
 *
 * Reports heap and in-flight counts every 250 ms.
 */
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type TimeboundEnv, timebound } from "../src/hono.ts";

const variant = process.env.VARIANT === "timebound" ? "timebound" : "plain";
const upstream = `${process.env.UPSTREAM}/api`;
const cap = Number(process.env.CAP ?? 100);
const totalMs = Number(process.env.TOTAL_MS ?? 1000);

/** A FIFO semaphore. A waiter whose signal aborts leaves the line. */
class Slots {
  #free: number;
  readonly #line: { grant: () => void; signal: AbortSignal | undefined }[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  get waiting(): number {
    return this.#line.length;
  }
  acquire(signal?: AbortSignal): Promise<() => void> {
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const next = this.#line.shift();
      if (next) next.grant();
      else this.#free++;
    };
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const entry = {
        signal,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const i = this.#line.indexOf(entry);
        if (i >= 0) this.#line.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#line.push(entry);
    });
  }
}

const slots = new Slots(cap);
let inHandler = 0;
const app = new Hono<TimeboundEnv>();

if (variant === "timebound") {
  app.use(timebound({ total: totalMs }));
  app.get("/quote", async (c) => {
    inHandler++;
    try {
      const release = await c.var.deadline.within((signal) => slots.acquire(signal));
      try {
        const res = await c.var.fetch(upstream);
        return c.json(await res.json());
      } finally {
        release();
      }
    } finally {
      inHandler--;
    }
  });
} else {
  app.get("/quote", async (c) => {
    inHandler++;
    try {
      const release = await slots.acquire();
      try {
        const res = await fetch(upstream);
        return c.json(await res.json());
      } finally {
        release();
      }
    } finally {
      inHandler--;
    }
  });
}

const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
  process.send?.({ type: "ready", port: info.port });
});

// Event-loop delay: how late this process runs what is due (it adds to every latency).
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

const ticker = setInterval(() => {
  const m = process.memoryUsage();
  process.send?.({
    type: "sample",
    heapUsed: m.heapUsed,
    rss: m.rss,
    inHandler,
    waiting: slots.waiting,
    loopDelayP99: loop.percentile(99) / 1e6,
  });
}, 250);

process.on("message", (m: { type: string }) => {
  if (m.type === "load") loop.reset(); // count from the start of the load, not the start-up
  if (m.type === "gc") {
    // What the service still holds once the load is gone (run with --expose-gc).
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    process.send?.({
      type: "retained",
      heapUsed: process.memoryUsage().heapUsed,
      inHandler,
      waiting: slots.waiting,
      loopDelayP99: loop.percentile(99) / 1e6,
    });
  }
  if (m.type === "stop") {
    clearInterval(ticker);
    server.close();
    process.exit(0);
  }
});
