/**
 * The examples run (STYLE.md, habit 7): the apps in examples/ against their
 * demo upstreams on 127.0.0.1, asserting what their comments promise.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Running } from "../examples/_serve.ts";
import { basicApp } from "../examples/basic.ts";
import { demoUpstream } from "../examples/demo-upstream.ts";
import { inventoryService, storefront } from "../examples/propagation.ts";
import { payload, proxyApp, uploadSink } from "../examples/proxy.ts";
import { streamingApp } from "../examples/streaming.ts";

let upstream: Running;
beforeAll(async () => {
  upstream = await listen(demoUpstream().fetch);
});
afterAll(async () => {
  await upstream?.close();
});

async function phaseOf(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { phase?: string };
  return body.phase;
}

describe("examples/basic.ts", () => {
  it("answers /fast, and turns each failure mode into a 504 naming its phase", async () => {
    const app = basicApp(upstream.url);
    const fast = await app.request("/fast");
    expect(fast.status).toBe(200);
    expect(fast.headers.get("server-timing")).toContain('deadline;dur=2000;desc="policy"');

    const [blackhole, stall, shrunk] = await Promise.all([
      app.request("/blackhole"),
      app.request("/stall"),
      app.request("/slow", { headers: { "grpc-timeout": "300m" } }),
    ]);
    expect(blackhole.status).toBe(504);
    expect(await phaseOf(blackhole)).toBe("headers");
    expect(stall.status).toBe(504);
    expect(await phaseOf(stall)).toBe("readIdle");
    expect(stall.headers.get("server-timing")).toContain("timeout:readIdle");
    expect(shrunk.status).toBe(504);
    expect(await phaseOf(shrunk)).toBe("total");

    const work = await app.request("/work?ms=10");
    expect(await work.json()).toEqual({ answer: "computed" });
  });
});

describe("examples/propagation.ts", () => {
  it("inventory gets the budget minus the margin and gives up first; the storefront falls back in time", async () => {
    const inventory = await listen(inventoryService(upstream.url).fetch);
    try {
      const front = storefront(inventory.url);
      const t0 = performance.now();
      const res = await front.request("/product/42?ms=2000", { headers: { "grpc-timeout": "1S" } });
      const elapsed = performance.now() - t0;
      expect(res.status).toBe(200);
      const body = (await res.json()) as { inventoryStatus: number; msLeft: number };
      expect(body.inventoryStatus).toBe(504);
      expect(body.msLeft).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(1_000 + 500);
    } finally {
      await inventory.close();
    }
  });
});

describe("examples/proxy.ts", () => {
  it("streams an upload byte-exact and keeps the client's path under /files/", async () => {
    const sink = await listen(uploadSink().fetch);
    const front = await listen(proxyApp(sink.url).fetch);
    try {
      const { stream, sha256 } = payload(8 * 1024 * 1024);
      const res = await fetch(`${front.url}/files/a.bin`, {
        method: "POST",
        body: stream,
        duplex: "half",
      } as RequestInit);
      const result = (await res.json()) as { bytes: number; sha256: string; path: string };
      expect(result).toEqual({
        path: "/files/a.bin",
        bytes: 8 * 1024 * 1024,
        sha256: await sha256,
      });
      const steer = await fetch(`${front.url}/files//evil.example/x`, {
        method: "POST",
        body: "x",
      });
      expect(((await steer.json()) as { path: string }).path).toBe("/files//evil.example/x");
    } finally {
      await front.close();
      await sink.close();
    }
  });
});

describe("examples/streaming.ts", () => {
  it("streams upstream answers as SSE until the caller's deadline cuts the stream", async () => {
    const app = streamingApp(upstream.url, 50);
    const t0 = performance.now();
    const res = await app.request("/prices", { headers: { "timebound-budget-ms": "400" } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let cut: unknown;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        text += decoder.decode(r.value, { stream: true });
      }
    } catch (e) {
      cut = e;
    }
    const elapsed = performance.now() - t0;
    expect(text.match(/event: price/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(cut).toBeDefined(); // truncated at the deadline, never a clean end
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(2_000);
  });

  it("a route-level timebound() only shrinks the app-level deadline", async () => {
    const app = streamingApp(upstream.url);
    expect(await (await app.request("/report")).json()).toEqual({
      budgetMs: 2000,
      source: "policy",
    });
    const res = await app.request("/report", { headers: { "timebound-budget-ms": "700" } });
    expect(await res.json()).toEqual({ budgetMs: 700, source: "timebound-budget-ms" });
  });
});
