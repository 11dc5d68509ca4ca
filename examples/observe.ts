/**
 * Observing a real run, for `timebound recommend --from` (issue 13, item 4):
 * a timebound fetch with an `Observer` calls two local servers that behave
 * like the README's seed scenario, and the sketches it kept are written as
 * JSON — what a production service would ship now and then.
 *
 * - `https://api.example` (a local server, renamed in the file): GETs whose
 *   headers come after a lognormal wait around 200 ms (the seeds'
 *   dependency, healthy), bodies in three pieces 0–30 ms apart.
 * - `https://upload.example`: POSTs of 256 KiB that the server reads at a
 *   rate drawn per upload, lognormal around 2 Mbit/s (σ 0.6, 0.5–25
 *   Mbit/s), like the seed's residential uplink, answering once it has read
 *   the body. (The bodies are smaller than the seed's 2.4 MB so the run takes
 *   seconds; what is sketched is the rate, and the planner is told the size.)
 *
 * Run (Node 24; about 30 s; the committed file came from this, seed 13):
 *
 *   node examples/observe.ts --out examples/observed-sketches.json
 *   npx timebound recommend --from examples/observed-sketches.json --payload 2.4MB
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Observer } from "../sim/observer.ts";
import { type Distribution, sample, seededRandom } from "../sim/random.ts";
import { createFetch } from "../src/mod.ts";
import { isMain } from "./_serve.ts";

const HEADERS_MS: Distribution = { kind: "lognormal", median: 200, sigma: 0.3, min: 50 };
const UPLOAD_BITS_PER_SECOND: Distribution = {
  kind: "lognormal",
  median: 2e6,
  sigma: 0.6,
  min: 5e5,
  max: 25e6,
};
const UPLOAD_BYTES = 256 * 1024;

/** Starts `handler` on 127.0.0.1, on a free port. */
function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function origin(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Runs `n` jobs, `concurrency` at a time. */
async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

/**
 * Calls the two servers through a fetch with an Observer and returns the
 * sketches, the local origins renamed to `https://api.example` and
 * `https://upload.example`.
 */
export async function observeSeed(options: {
  gets: number;
  uploads: number;
  seed: number;
}): Promise<Observer> {
  const random = seededRandom(options.seed);
  const api = await serve((_req, res) => {
    const wait = sample(HEADERS_MS, random);
    const gaps = [random() * 30, random() * 30];
    setTimeout(() => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("one;");
      setTimeout(() => {
        res.write("two;");
        setTimeout(() => res.end("three"), gaps[1]);
      }, gaps[0]);
    }, wait);
  });
  const upload = await serve((req, res) => {
    // Read at this upload's rate: pause after each piece for as long as the
    // link would take to carry it. The answer comes once all is read.
    const bitsPerSecond = sample(UPLOAD_BITS_PER_SECOND, random);
    req.on("data", (piece: Buffer) => {
      req.pause();
      setTimeout(() => req.resume(), (piece.length * 8000) / bitsPerSecond);
    });
    req.on("end", () => res.end("stored"));
  });
  const apiOrigin = origin(api);
  const uploadOrigin = origin(upload);
  const observer = new Observer();
  const f = createFetch({ total: "60s", events: observer.events });
  try {
    const body = new Uint8Array(UPLOAD_BYTES);
    await Promise.all([
      pool(options.gets, 50, async () => {
        await (await f(`${apiOrigin}/items`)).text();
      }),
      pool(options.uploads, 20, async () => {
        await (await f(`${uploadOrigin}/files`, { method: "POST", body })).text();
      }),
    ]);
  } finally {
    api.closeAllConnections();
    upload.closeAllConnections();
    api.close();
    upload.close();
  }
  const json = observer.toJSON();
  const renamed = {
    ...json,
    origins: {
      "https://api.example": json.origins[apiOrigin] ?? {},
      "https://upload.example": json.origins[uploadOrigin] ?? {},
    },
  };
  return Observer.fromJSON(renamed);
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      gets: { type: "string", default: "3000" },
      uploads: { type: "string", default: "400" },
      seed: { type: "string", default: "13" },
      out: { type: "string" },
    },
  });
  const observer = await observeSeed({
    gets: Number(values.gets),
    uploads: Number(values.uploads),
    seed: Number(values.seed),
  });
  const text = `${JSON.stringify(observer.toJSON(), null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
}
