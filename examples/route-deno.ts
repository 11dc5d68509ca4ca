/**
 * Route large uploads through a symmetric-bandwidth proxy (Deno).
 *
 *   SYMMETRIC_PROXY=http://127.0.0.1:3128 deno run -A examples/route-deno.ts https://httpbin.example/post
 */
import { createFetch } from "../src/mod.ts";

// The few Deno APIs used here, typed for readers without Deno's type library.
declare const Deno: {
  env: { get(name: string): string | undefined };
  args: string[];
  createHttpClient(options: { proxy: { url: string } }): { close(): void };
};

const proxyUrl = Deno.env.get("SYMMETRIC_PROXY");
const target = Deno.args[0];
if (!proxyUrl || !target) {
  console.log("usage: SYMMETRIC_PROXY=http://host:port deno run -A examples/route-deno.ts URL");
} else {
  const client = Deno.createHttpClient({ proxy: { url: proxyUrl } });
  // Deno's fetch takes the client in its init.
  const viaProxy = ((input: RequestInfo | URL, init?: RequestInit) =>
    fetch(input, { ...init, client } as RequestInit)) as typeof fetch;

  const fetchOnTime = createFetch({
    total: "60s",
    writeIdle: "10s",
    route: ({ bodySize }) =>
      bodySize !== undefined && bodySize > 100 * 1024 ? viaProxy : undefined,
  });
  const res = await fetchOnTime(target, { method: "POST", body: new Uint8Array(5_000_000) });
  console.log(res.status, await res.text());
  client.close();
}
