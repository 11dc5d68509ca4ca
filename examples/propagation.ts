/**
 * Deadline propagation across two services. A client gives the storefront
 * 1 s (`grpc-timeout: 1S`). The storefront passes what is left, minus a
 * 100 ms margin, to the inventory service (an allow-listed origin) in
 * `timebound-budget-ms`. Inventory's deadline shrinks to match, so when its
 * own upstream is slow, inventory gives up first — and the storefront still
 * has time to answer with a fallback instead of a 504.
 *
 * Nothing is sent to origins not in `propagate.to`: a budget tells a third
 * party how long you are willing to wait.
 *
 * Run: `node examples/propagation.ts` (Node 24).
 */
import { Hono } from "hono";
import { type TimeboundEnv, timebound } from "../src/hono.ts";
import { isMain, listen } from "./_serve.ts";
import { demoUpstream } from "./demo-upstream.ts";

/** Inventory: reads the budget header (on by default), calls a slow upstream. */
export function inventoryService(upstream: string): Hono<TimeboundEnv> {
  const app = new Hono<TimeboundEnv>();
  app.use(timebound({ total: "5s", serverTiming: true }));
  app.get("/stock/:sku", async (c) => {
    const { budgetMs, source } = c.var.deadline;
    console.log(`  inventory: budget ${Math.round(budgetMs)} ms (from ${source})`);
    const res = await c.var.fetch(`${upstream}/slow?ms=${c.req.query("ms") ?? 2000}`);
    await res.text();
    return c.json({ sku: c.req.param("sku"), inStock: 3 });
  });
  return app;
}

/** Storefront: propagates its remaining budget to inventory, falls back if inventory gives up. */
export function storefront(inventory: string): Hono<TimeboundEnv> {
  const app = new Hono<TimeboundEnv>();
  app.use(
    timebound({
      total: "3s",
      serverTiming: true,
      propagate: { to: [new URL(inventory).origin], margin: "100ms" },
    }),
  );
  app.get("/product/:sku", async (c) => {
    const started = performance.now();
    const res = await c.var.fetch(
      `${inventory}/stock/${c.req.param("sku")}?ms=${c.req.query("ms") ?? 2000}`,
    );
    const took = Math.round(performance.now() - started);
    if (res.ok) return c.json({ product: c.req.param("sku"), stock: await res.json(), took });
    // Inventory gave up inside our budget: answer with what we have.
    await res.body?.cancel();
    return c.json({
      product: c.req.param("sku"),
      stock: "unknown right now",
      inventoryStatus: res.status,
      took,
      msLeft: Math.round(c.var.deadline.remaining()),
    });
  });
  return app;
}

if (isMain(import.meta.url)) {
  const upstream = await listen(demoUpstream().fetch);
  const inventory = await listen(inventoryService(upstream.url).fetch);
  const front = await listen(storefront(inventory.url).fetch);

  for (const ms of [200, 2000]) {
    console.log(`GET /product/42 with grpc-timeout: 1S, inventory's upstream takes ${ms} ms`);
    const res = await fetch(`${front.url}/product/42?ms=${ms}`, {
      headers: { "grpc-timeout": "1S" },
    });
    console.log(`  storefront: ${res.status} ${await res.text()}`);
    console.log(`  Server-Timing: ${res.headers.get("server-timing")}\n`);
  }
  await front.close();
  await inventory.close();
  await upstream.close();
}
