import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bodySizeOf, createFetch, type RouteInfo } from "../src/mod.ts";
import { startServer, type TestServer } from "./_server.ts";

/** A plain local server standing in for a path to the origin; it records what reached it. */
async function recorder(name: string, log: string[]): Promise<TestServer> {
  return startServer({
    "/upload": (req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => {
        log.push(`${name} ${req.method} ${n}`);
        res.end(name);
      });
    },
  });
}

describe("route: pick the fetch by payload size", () => {
  const log: string[] = [];
  let residential: TestServer;
  let symmetric: TestServer;
  beforeAll(async () => {
    residential = await recorder("residential", log);
    symmetric = await recorder("symmetric", log);
  });
  afterAll(async () => {
    await residential.close();
    await symmetric.close();
  });

  it("sends bodies over 100 KiB through the symmetric path, the rest as usual", async () => {
    const seen: RouteInfo[] = [];
    // A fetch "bound to a proxy": here it forwards to the second local server.
    const viaSymmetric: typeof fetch = (input, init) =>
      fetch(String(input).replace(residential.url, symmetric.url), init);
    const f = createFetch({
      total: "10s",
      route: (info) => {
        seen.push(info);
        return info.bodySize !== undefined && info.bodySize > 100 * 1024 ? viaSymmetric : undefined;
      },
    });
    const small = await f(`${residential.url}/upload`, { method: "POST", body: "x".repeat(1000) });
    const large = await f(`${residential.url}/upload`, {
      method: "POST",
      body: new Uint8Array(300 * 1024),
    });
    expect([await small.text(), await large.text()]).toEqual(["residential", "symmetric"]);
    expect(log).toEqual(["residential POST 1000", `symmetric POST ${300 * 1024}`]);
    expect(seen.map((s) => [s.method, s.bodySize])).toEqual([
      ["POST", 1000],
      ["POST", 300 * 1024],
    ]);
  });
});

describe("bodySizeOf", () => {
  it.each([
    ["string (UTF-8 bytes)", "é", 2],
    ["bytes", new Uint8Array(7), 7],
    ["ArrayBuffer", new ArrayBuffer(3), 3],
    ["Blob", new Blob(["abcd"]), 4],
    ["URLSearchParams", new URLSearchParams({ a: "b c" }), 5],
    ["no body", undefined, 0],
    ["stream (unknown)", new ReadableStream(), undefined],
    ["FormData (unknown: the runtime encodes it)", new FormData(), undefined],
  ])("%s", (_n, body, size) => {
    expect(bodySizeOf(body as BodyInit | undefined)).toBe(size);
  });
});
