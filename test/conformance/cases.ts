/**
 * The conformance cases (issue 2): the same real-server cases on every
 * runtime. Web-standard APIs only, plus the library. Waits are bounded and
 * generous; timing checks assert "cut after the limit and well before the
 * fault would have ended", never a tight window.
 *
 * @module
 */
import { createFetch, isTimeoutError, timingsOf } from "../../src/mod.ts";
import {
  clock,
  drain,
  expectTimeout,
  KiB,
  MiB,
  randomBytes,
  serverSawClose,
  sha256,
  streamsBufferedBodies,
  url,
  within,
} from "./helpers.ts";
import { assert, describe, rejection, sleep, test } from "./runner.ts";

/**
 * Larger than everything that can sit between the library and a paused
 * server: ~4–4.5 MB of kernel buffers on loopback plus 1–2 chunks inside the
 * runtime (ARCHITECTURE.md, "Runtime facts"). Only past that do pulls stop.
 */
const STALL_UPLOAD_BYTES = 24 * MiB;

/** A caller's body stream that counts how often it is pulled; bounded to `max` chunks. */
function countingSource(chunk: Uint8Array, max: number) {
  const counter = { pulls: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        counter.pulls++;
        if (counter.pulls > max) c.close();
        else c.enqueue(chunk.slice());
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

// --- download side ----------------------------------------------------------

test("trickle of 1 byte / 300 ms is cut by total, though no gap reaches readIdle", async (t) => {
  const id = t.id("trickle");
  const f = createFetch({ total: 2000, headers: 1000, readIdle: 1000, clock });
  const t0 = performance.now();
  const res = await f(url(t, "/trickle", id, { every: 300, count: 100 })); // 30 s of trickle
  const e = expectTimeout(await rejection(drain(res), "body read"), "total");
  within(performance.now() - t0, 2000, 5000, "trickle cut");
  assert(e.bytesReceived >= 3, `the trickle flowed: ${e.bytesReceived} bytes before the cut`);
  await serverSawClose(t, id);
});

test("slow headers: headers phase", async (t) => {
  const id = t.id("slow-headers");
  const f = createFetch({ total: 5000, headers: 500, clock });
  const t0 = performance.now();
  const e = await rejection(f(url(t, "/slow-headers", id, { delay: 10_000 })), "fetch");
  expectTimeout(e, "headers");
  within(performance.now() - t0, 500, 3000, "headers cut");
  await serverSawClose(t, id);
});

test("TCP black hole: headers phase", async (t) => {
  const id = t.id("blackhole");
  const f = createFetch({ total: 5000, headers: 500, clock });
  const t0 = performance.now();
  const e = await rejection(f(`${t.env.blackhole}/?id=${id}`), "fetch");
  expectTimeout(e, "headers");
  within(performance.now() - t0, 500, 3000, "black hole cut");
  await serverSawClose(t, id);
});

test("body that stalls: readIdle phase", async (t) => {
  const id = t.id("stall");
  const f = createFetch({ total: 10_000, headers: 2000, readIdle: 300, clock });
  const t0 = performance.now();
  const res = await f(url(t, "/stall", id, { bytes: 64, hold: 20_000 }));
  const e = expectTimeout(await rejection(drain(res), "body read"), "readIdle");
  within(performance.now() - t0, 300, 3000, "stall cut");
  assert(e.bytesReceived === 64, `bytes before the stall: ${e.bytesReceived}, expected 64`);
  await serverSawClose(t, id);
});

test("endless fast body is cut by total on time (hot read loop)", async (t) => {
  const id = t.id("firehose");
  const f = createFetch({ total: 1000, headers: 1000, readIdle: 1000, clock });
  const t0 = performance.now();
  const res = await f(url(t, "/firehose", id, { cap: 20_000 }));
  const e = expectTimeout(await rejection(drain(res), "body read"), "total");
  const ms = performance.now() - t0;
  within(ms, 1000, 3000, "firehose cut");
  assert(e.bytesReceived > MiB, `expected a fast body, got ${e.bytesReceived} bytes in ${ms} ms`);
  t.note(`${Math.round(e.bytesReceived / MiB)} MiB read, cut after ${Math.round(ms)} ms`);
  await serverSawClose(t, id);
});

test("endless body with no I/O between chunks (timers starved) is cut by total", async (t) => {
  // Every read resolves in microtasks, so no timer can fire while the loop
  // runs: only the library's clock check on each chunk can stop it (the Deno
  // starvation in ARCHITECTURE.md, made deterministic). If nothing cuts it,
  // it ends after 3 s (Bun reads ~2M chunks/s, so a count alone is no bound
  // here), or after 20M chunks should a runtime's clock stand still.
  const chunk = new Uint8Array(16 * KiB);
  const t0 = performance.now();
  let pulls = 0;
  const endless: typeof fetch = async () =>
    new Response(
      new ReadableStream<Uint8Array>(
        {
          pull(c) {
            if (++pulls > 20_000_000 || performance.now() - t0 > 3000) c.close();
            else c.enqueue(chunk);
          },
        },
        { highWaterMark: 0 },
      ),
    );
  const f = createFetch({ total: 200, fetch: endless, clock });
  const res = await f("http://127.0.0.1/in-memory");
  expectTimeout(await rejection(drain(res), "hot read loop (ran to its own 3 s bound)"), "total");
  within(performance.now() - t0, 200, 2000, "hot loop cut");
  t.note(`${pulls} chunks before the cut`);
});

test("1 byte / 300 ms body with minRate: minRate phase", async (t) => {
  const id = t.id("minrate");
  const f = createFetch({
    total: 10_000,
    readIdle: 2000,
    minRate: { bytes: 1024, per: "1s" },
    clock,
  });
  const t0 = performance.now();
  const res = await f(url(t, "/trickle", id, { every: 300, count: 100 }));
  const e = expectTimeout(await rejection(drain(res), "body read"), "minRate");
  within(performance.now() - t0, 1000, 5000, "minRate cut");
  assert(e.direction === "download", `direction ${e.direction}`);
  await serverSawClose(t, id);
});

test("reset mid-body: a prompt error that is not a timeout", async (t) => {
  const id = t.id("reset");
  const f = createFetch({ total: 10_000, headers: 5000, readIdle: 5000, clock });
  const t0 = performance.now();
  const e = await rejection(
    (async () => drain(await f(url(t, "/reset", id, { bytes: 1024, after: 100 }))))(),
    "fetch + body read",
  );
  const ms = performance.now() - t0;
  assert(!isTimeoutError(e), `a reset is a network error, got ${describe(e)}`);
  within(ms, 0, 2500, "reset surfaced");
  t.note(`reset surfaces as ${describe(e).slice(0, 120)}`);
});

// --- upload side ------------------------------------------------------------

test("upload into a 4 KiB/s reader: writeIdle phase", async (t) => {
  const id = t.id("slow-sink");
  const f = createFetch({ total: 15_000, headers: 10_000, writeIdle: 1000, clock });
  const t0 = performance.now();
  const bytes = new Uint8Array(STALL_UPLOAD_BYTES);
  // Where a buffered body cannot be streamed with its length (Deno), the
  // caller streams it to have `writeIdle` (and accepts chunked framing).
  const body = streamsBufferedBodies ? bytes : new Blob([bytes]).stream();
  if (!streamsBufferedBodies)
    t.note("a buffered body goes as given here: streamed via Blob.stream()");
  const e = expectTimeout(
    await rejection(f(url(t, "/slow-sink", id, { rate: 4096 }), { method: "POST", body }), "fetch"),
    "writeIdle",
  );
  within(performance.now() - t0, 1000, 8000, "stalled upload cut");
  assert(e.bytesSent < bytes.byteLength, `all ${e.bytesSent} bytes went out, nothing stalled`);
  t.note(`pulls stopped after ${(e.bytesSent / MiB).toFixed(1)} MiB handed over`);
});

for (const kind of ["Uint8Array", "ReadableStream"] as const) {
  test(`8 MiB upload (${kind}) arrives byte-exact through chunking`, async (t) => {
    const id = t.id(`sink-${kind}`);
    const payload = randomBytes(8 * MiB);
    let progressed = 0;
    const f = createFetch({
      total: 20_000,
      headers: 10_000,
      writeIdle: 5000,
      // An odd chunk size for the stream: pieces never align with the source's.
      upload: { threshold: 100 * KiB, chunkSize: kind === "Uint8Array" ? 64 * KiB : 50_000 },
      onUploadProgress: ({ bytesSent }) => {
        progressed = bytesSent;
      },
      clock,
    });
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> = payload;
    if (kind === "ReadableStream") {
      let at = 0;
      body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= payload.byteLength) return c.close();
          c.enqueue(payload.slice(at, at + 100_003));
          at += 100_003;
        },
      });
    }
    const res = await f(url(t, "/sink", id), { method: "POST", body });
    const got = (await res.json()) as { bytes: number; sha256: string };
    assert(got.bytes === payload.byteLength, `server got ${got.bytes} bytes`);
    assert(got.sha256 === (await sha256(payload)), "server's sha256 differs from the payload's");
    const streamed = kind === "ReadableStream" || streamsBufferedBodies;
    // A body sent as given (a buffer on Deno) is handed over whole: no pulls to report.
    assert(
      progressed === (streamed ? payload.byteLength : 0),
      `onUploadProgress ended at ${progressed}`,
    );
    assert(timingsOf(res)?.bytesSent === payload.byteLength, "timings.bytesSent");
  });
}

test("after a writeIdle timeout the caller's source is pulled at most once more", async (t) => {
  const id = t.id("pulls-timeout");
  const f = createFetch({ total: 15_000, headers: 10_000, writeIdle: 1000, clock });
  // 64 KiB × 512 = 32 MiB at most: more than the buffers can hold.
  const { stream, counter } = countingSource(new Uint8Array(64 * KiB), 512);
  const e = await rejection(f(url(t, "/slow-sink", id), { method: "POST", body: stream }), "fetch");
  const atReject = counter.pulls;
  expectTimeout(e, "writeIdle");
  await sleep(1000);
  assert(
    counter.pulls <= atReject + 1,
    `pulled ${counter.pulls - atReject} more after the timeout`,
  );
});

test("after a caller abort during an upload the source is pulled at most once more", async (t) => {
  const id = t.id("pulls-abort");
  const f = createFetch({ total: 15_000, headers: 10_000, clock });
  const { stream, counter } = countingSource(new Uint8Array(64 * KiB), 512);
  const ac = new AbortController();
  const reason = new Error("caller gave up");
  const pending = rejection(
    f(url(t, "/slow-sink", id), { method: "POST", body: stream, signal: ac.signal }),
    "fetch",
  );
  // Abort once the upload is under way and stuck: pulls stopped for 300 ms.
  let last = -1;
  for (let i = 0; i < 50 && counter.pulls !== last; i++) {
    last = counter.pulls;
    await sleep(300);
  }
  ac.abort(reason);
  const atAbort = counter.pulls;
  const e = await pending;
  assert(e === reason, `expected the caller's reason, got ${describe(e)}`);
  await sleep(1000);
  assert(counter.pulls <= atAbort + 1, `pulled ${counter.pulls - atAbort} more after the abort`);
});

// --- lifecycle ---------------------------------------------------------------

test("a response never read is released once total passes", async (t) => {
  const id = t.id("never-read");
  const f = createFetch({ total: 1000, clock });
  const res = await f(url(t, "/never-read", id, { every: 500, count: 60 }));
  // Hold the response (so no GC can be what closes it) and never read it.
  const closedAfter = await serverSawClose(t, id, 10_000);
  within(closedAfter, 1000 - 100, 6000, "release of the unread response");
  t.note(`server saw the unread response's connection close ${closedAfter} ms in`);
  assert(res.status === 200, "status");
});

test("caller abort before headers rejects with the caller's reason", async (t) => {
  const f = createFetch({ total: 5000, headers: 3000, clock });
  const ac = new AbortController();
  const reason = new Error("caller reason");
  const t0 = performance.now();
  const p = rejection(
    f(url(t, "/slow-headers", t.id("abort-headers"), { delay: 10_000 }), { signal: ac.signal }),
    "fetch",
  );
  await sleep(200);
  ac.abort(reason);
  const e = await p;
  assert(e === reason, `expected the caller's reason, got ${describe(e)}`);
  within(performance.now() - t0, 200, 1500, "abort surfaced");
});

test("caller abort during the body rejects the read with the caller's reason", async (t) => {
  const f = createFetch({ total: 5000, readIdle: 3000, clock });
  const ac = new AbortController();
  const reason = new Error("caller reason");
  const res = await f(url(t, "/trickle", t.id("abort-body"), { every: 300, count: 100 }), {
    signal: ac.signal,
  });
  const read = rejection(drain(res), "body read");
  await sleep(500);
  ac.abort(reason);
  const e = await read;
  assert(e === reason, `expected the caller's reason, got ${describe(e)}`);
  assert(!isTimeoutError(e), "not a timeout");
});

test("response keeps status, statusText, headers and url; timings after a full read", async (t) => {
  const f = createFetch({ total: 5000, headers: 2000, readIdle: 2000, clock });
  const u = url(t, "/json", t.id("props"), { status: 201 });
  const res = await f(u);
  assert(res.status === 201, `status ${res.status}`);
  assert(res.statusText === "Created", `statusText ${JSON.stringify(res.statusText)}`);
  assert(res.headers.get("x-conformance") === "yes", "custom header");
  assert(res.headers.get("content-type") === "application/json", "content-type");
  assert(res.url === u, `url ${res.url}`);
  const text = await res.text();
  assert(JSON.parse(text).ok === true, "body");
  const tm = timingsOf(res);
  assert(tm !== undefined, "timingsOf(res) is undefined");
  assert(tm.attempts === 1, `attempts ${tm.attempts}`);
  assert(typeof tm.headers === "number" && tm.headers >= 0, `headers ${tm.headers}`);
  assert(
    typeof tm.bodyEnd === "number" && tm.bodyEnd >= tm.headers,
    `bodyEnd ${tm.bodyEnd} before headers ${tm.headers}`,
  );
  assert(tm.bytesReceived === new TextEncoder().encode(text).byteLength, "bytesReceived");
  assert(tm.bytesSent === 0, `bytesSent ${tm.bytesSent}`);
});

test(
  "2,000 small requests with every limit set: no timeouts",
  async (t) => {
    // The default clock here: on Node the leftovers case sees its timers.
    const f = createFetch({
      total: "2s",
      headers: 1000,
      readIdle: 1000,
      writeIdle: 1000,
      minRate: { bytes: 1024, per: "1s" },
    });
    const N = 2000;
    const CONCURRENCY = 16;
    let next = 0;
    let timeouts = 0;
    const errors: string[] = [];
    const worker = async () => {
      while (next < N) {
        const i = next++;
        try {
          const res = await f(`${t.env.http}/json?id=${t.env.runtime}.many.${i}`);
          const body = (await res.json()) as { ok: boolean };
          if (!body.ok) errors.push(`#${i}: bad body`);
        } catch (e) {
          if (isTimeoutError(e)) timeouts++;
          else errors.push(`#${i}: ${describe(e)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert(timeouts === 0, `${timeouts} timeouts`);
    assert(errors.length === 0, `${errors.length} errors, first: ${errors[0]}`);
  },
  { timeoutMs: 90_000 },
);
