/**
 * Route large uploads through a symmetric-bandwidth proxy (Node).
 *
 * Residential proxies upload at a few Mbit/s: a 5 MB POST through one takes
 * longer than most write timeouts allow. Send bodies over 100 KiB through a
 * datacenter proxy instead; keep the rest on the default path.
 *
 *   SYMMETRIC_PROXY=http://127.0.0.1:3128 node examples/route-node.ts https://httpbin.example/post
 */
import { ProxyAgent, fetch as undiciFetch } from "undici";
import { createFetch } from "../src/mod.ts";

const proxyUrl = process.env.SYMMETRIC_PROXY;
const target = process.argv[2];
if (!proxyUrl || !target) {
  console.log("usage: SYMMETRIC_PROXY=http://host:port node examples/route-node.ts URL");
  process.exit(0);
}

// undici's ProxyAgent, used as the dispatcher of undici's fetch.
const agent = new ProxyAgent(proxyUrl);
const viaProxy = ((input: RequestInfo | URL, init?: RequestInit) =>
  undiciFetch(input as string, {
    ...(init as object),
    dispatcher: agent,
  })) as unknown as typeof fetch;

const fetchOnTime = createFetch({
  total: "60s",
  writeIdle: "10s",
  route: ({ bodySize }) => (bodySize !== undefined && bodySize > 100 * 1024 ? viaProxy : undefined),
});

const res = await fetchOnTime(target, { method: "POST", body: new Uint8Array(5_000_000) });
console.log(res.status, await res.text());
await agent.close();
