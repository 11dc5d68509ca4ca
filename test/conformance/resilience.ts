/**
 * Retries and the circuit breaker against the real fault server (issue 6),
 * on every runtime. The server's `/flaky` route fails the first `k` requests
 * of an id (503/500 with an optional `Retry-After`, a TCP reset, or a black
 * hole) and counts, hashes and timestamps every request, so each case checks
 * what actually reached the wire, not what the library says it sent.
 *
 * @module
 */
import {
  CircuitBreaker,
  createFetch,
  isCircuitOpenError,
  isTimeoutError,
  timingsOf,
} from "../../src/mod.ts";
import {
  clock,
  EARLY_MS,
  expectTimeout,
  KiB,
  randomBytes,
  serverSees,
  sha256,
  stats,
  streamsBufferedBodies,
  url,
  within,
} from "./helpers.ts";
import { assert, type Ctx, describe, rejection, sleep, test } from "./runner.ts";

/** A per-try limit short enough to make black-holed attempts cheap, long enough for loopback. */
const PER_TRY_HEADERS_MS = 400;
/** Above the library's default streaming threshold (100 KiB): the body goes out in chunks. */
const REPLAY_BYTES = 300 * KiB;
const CHUNK_BYTES = 64 * KiB;

/**
 * Retries with short, jittered backoff (the default per-origin budget stays
 * on), over a fetch that counts the library's own dispatches: what the
 * server saw can then be told apart from what the library sent.
 */
function retrying(extra: { total?: number } = {}) {
  let n = 0;
  const f = createFetch({
    total: extra.total ?? 5000,
    headers: PER_TRY_HEADERS_MS,
    retry: { limit: 3, backoff: { base: 10, cap: 50 } },
    upload: { threshold: 100 * KiB, chunkSize: CHUNK_BYTES },
    fetch: (input, init) => {
      n++;
      return fetch(input, init);
    },
    clock,
  });
  return { f, sent: () => n };
}

/**
 * `/flaky` on the one-request-per-connection listener: Deno, Bun and
 * workerd re-send a request on their own when a reused keep-alive
 * connection is reset, which would add attempts the library never made.
 */
function flaky(t: Ctx, id: string, params: Record<string, number | string>): string {
  return url(t, "/flaky", id, params, t.env.fresh);
}

async function requests(t: Ctx, id: string): Promise<number> {
  return (await stats(t, id))?.requests ?? 0;
}

const FAILURES = [
  ["503", "GET after 2 × 503 + Retry-After: 0 succeeds within the deadline"],
  ["reset", "GET after 2 TCP resets succeeds within the deadline"],
  ["blackhole", "a headers timeout on a black hole is retried as a per-try timeout"],
] as const;

for (const [fail, title] of FAILURES) {
  test(`retry: ${title}`, async (t) => {
    const id = t.id(`retry-${fail}`);
    const { f, sent } = retrying();
    const t0 = performance.now();
    const res = await f(flaky(t, id, { k: 2, fail, retryAfter: 0 }));
    const text = await res.text();
    const ms = performance.now() - t0;
    assert(res.status === 200 && text === "ok", `status ${res.status}, body ${text.slice(0, 40)}`);
    const n = await requests(t, id);
    assert(n === 3, `the server saw ${n} requests, expected 3 (2 failures + 1 success)`);
    assert(sent() === 3, `the library sent ${sent()} attempts, expected 3`);
    assert(timingsOf(res)?.attempts === 3, `timings.attempts ${timingsOf(res)?.attempts}`);
    if (fail === "blackhole") {
      // Two attempts cut by the per-try limit, then the third answered.
      within(ms, 2 * PER_TRY_HEADERS_MS, 4000, "two black holes and a success");
      // The hung attempts' connections were closed, not left waiting.
      await serverSees(t, id, (s) => s.cutOff === 2, "both black-holed attempts closed", 5000);
    } else within(ms, 0, 4000, "two failures and a success");
    t.note(`3 attempts in ${Math.round(ms)} ms`);
  });
}

test("retry: a POST without Idempotency-Key is sent exactly once (503, reset)", async (t) => {
  const { f, sent } = retrying();
  const id503 = t.id("post-once-503");
  const res = await f(flaky(t, id503, { k: 2, fail: "503", retryAfter: 0 }), {
    method: "POST",
    body: "x",
  });
  await res.arrayBuffer();
  assert(res.status === 503, `the 503 is the answer, got ${res.status}`);
  assert((await requests(t, id503)) === 1, `503: sent ${await requests(t, id503)} times`);

  const idReset = t.id("post-once-reset");
  const e = await rejection(
    f(flaky(t, idReset, { k: 2, fail: "reset" }), { method: "POST", body: "x" }),
    "POST into a reset",
  );
  assert(!isTimeoutError(e), `a reset is a network error, got ${describe(e)}`);
  await sleep(200); // a retry, were there one, would go out at once (backoff ≤ 50 ms)
  const n = await requests(t, idReset);
  assert(n === 1, `reset: sent ${n} times`);
  assert(sent() === 2, `the library sent ${sent()} requests for two POSTs`);

  // The same on a reused keep-alive connection: the library still sends it
  // once; what the runtime's own client does then is recorded.
  const idPooled = t.id("post-once-pooled");
  await (await fetch(url(t, "/json", `${idPooled}.warm`))).arrayBuffer();
  await rejection(
    f(url(t, "/flaky", idPooled, { k: 2, fail: "reset" }), { method: "POST", body: "x" }),
    "POST into a reset on a reused connection",
  );
  await sleep(200);
  assert(sent() === 3, `the library sent the third POST ${sent() - 2} times`);
  const m = await requests(t, idPooled);
  if (m > 1) t.note(`on a reused connection the runtime itself re-sent the POST: server saw ${m}`);
});

for (const kind of ["Uint8Array", "Blob"] as const) {
  const how = kind === "Uint8Array" ? "POST + Idempotency-Key into 503s" : "PUT into resets";
  test(`retry: a buffered ${kind} body (300 KiB, streamed) is replayed byte-exact (${how})`, async (t) => {
    const id = t.id(`replay-${kind}`);
    const payload = randomBytes(REPLAY_BYTES);
    const expected = await sha256(payload);
    let pulls = 0;
    const { f, sent } = retrying();
    const init =
      kind === "Uint8Array"
        ? { method: "POST", body: payload, headers: { "idempotency-key": id } }
        : { method: "PUT", body: new Blob([payload]) };
    const fail = kind === "Uint8Array" ? "503" : "reset";
    const res = await f(flaky(t, id, { k: 2, fail, retryAfter: 0 }), {
      ...init,
      onUploadProgress: () => {
        pulls++;
      },
    });
    assert((await res.text()) === "ok", `status ${res.status}`);
    const s = await stats(t, id);
    assert(s?.requests === 3, `the server saw ${s?.requests} requests, expected 3`);
    assert(sent() === 3, `the library sent ${sent()} attempts, expected 3`);
    const bad = s.hashes.filter((h) => h !== expected).length;
    assert(
      s.hashes.length === 3 && bad === 0,
      `${bad} of ${s.hashes.length} attempts arrived different from the payload`,
    );
    assert(s.bytesReceived === 3 * REPLAY_BYTES, `server read ${s.bytesReceived} bytes in all`);
    // Streamed in chunks every time, not sent as one buffer — where the
    // runtime keeps the length of a stream; on Deno it goes as given.
    const perAttempt = Math.ceil(REPLAY_BYTES / CHUNK_BYTES);
    if (streamsBufferedBodies) {
      assert(pulls >= 3 * perAttempt, `${pulls} chunks handed over, expected ≥ ${3 * perAttempt}`);
    } else assert(pulls === 0, `${pulls} chunks handed over on a runtime that sends it as given`);
  });
}

test("retry: a Retry-After that would cross the total deadline is not slept; one that fits is", async (t) => {
  const { f } = retrying({ total: 2000 });
  const far = t.id("retry-after-far");
  const t0 = performance.now();
  const res = await f(flaky(t, far, { k: 1, fail: "503", retryAfter: 5 }));
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  assert(res.status === 503, `the 503 is the answer, got ${res.status}`);
  assert(res.headers.get("retry-after") === "5", "Retry-After passed on to the caller");
  within(ms, 0, 1000, "answer with a 5 s Retry-After under a 2 s deadline");
  await sleep(300);
  assert((await requests(t, far)) === 1, "no second attempt");

  const near = t.id("retry-after-near");
  const { f: g } = retrying({ total: 4000 });
  const t1 = performance.now();
  const ok = await g(flaky(t, near, { k: 1, fail: "503", retryAfter: 1 }));
  assert((await ok.text()) === "ok", `status ${ok.status}`);
  within(performance.now() - t1, 1000, 3500, "a 1 s Retry-After under a 4 s deadline");
  const s = await stats(t, near);
  const gap = s!.arrivedMs[1]! - s!.arrivedMs[0]!;
  assert(gap >= 1000 - EARLY_MS, `the server saw the retry ${gap} ms after the first request`);
});

test("retry: against a black hole no attempt starts after the total deadline and the call ends by it", async (t) => {
  // The second attempt starts ≈1.5 s in, and its own per-try limit would let
  // it wait until ≈3 s: only the total deadline, counted from the request's
  // start and not the attempt's, ends it at 1.8 s.
  const id = t.id("retry-deadline");
  const TOTAL = 1800;
  const PER_TRY = 1500;
  const f = createFetch({
    total: TOTAL,
    headers: PER_TRY,
    retry: { limit: 10, backoff: { base: 10, cap: 50 }, budget: false },
    clock,
  });
  const t0 = performance.now();
  const e = expectTimeout(
    await rejection(f(flaky(t, id, { k: 1000, fail: "blackhole" })), "fetch"),
    "total",
  );
  const ms = performance.now() - t0;
  within(ms, TOTAL, TOTAL + 1000, "the retried call");
  const s = await serverSees(t, id, (s) => s.cutOff === 2, "both attempts' connections closed");
  assert(s.requests === 2, `${s.requests} attempts reached the server, expected 2`);
  assert(e.attempt === 2, `the error names attempt ${e.attempt}, expected 2`);
  const late = s.arrivedMs.filter((a) => a >= TOTAL);
  assert(late.length === 0, `attempts arrived after the deadline: ${late.join(", ")} ms`);
  t.note(`attempts arrived at ${s.arrivedMs.join(", ")} ms; cut after ${Math.round(ms)} ms`);
});

test("breaker: opens after failures, fails fast without a request, half-opens after the cooldown, recovers", async (t) => {
  const id = t.id("breaker");
  const COOLDOWN = 500;
  const origin = new URL(t.env.http).origin;
  const breaker = new CircuitBreaker({ minCalls: 4, failureRatio: 0.5, cooldown: COOLDOWN, clock });
  const f = createFetch({ total: 5000, breaker, clock });
  const u = url(t, "/flaky", id, { k: 4, fail: "500" });
  const call = async () => {
    const r = await f(u);
    await r.arrayBuffer();
    return r.status;
  };
  for (let i = 0; i < 4; i++) assert((await call()) === 500, `call ${i + 1} should see the 500`);
  assert(breaker.state(origin) === "open", `state ${breaker.state(origin)} after 4 failures`);
  const openedAt = performance.now();

  const e = await rejection(call(), "call on an open circuit");
  assert(isCircuitOpenError(e), `expected a CircuitOpenError, got ${describe(e)}`);
  within(performance.now() - openedAt, 0, 250, "failing fast");
  assert(e.retryAfterMs > 0 && e.retryAfterMs <= COOLDOWN, `retryAfterMs ${e.retryAfterMs}`);
  assert((await requests(t, id)) === 4, "the open circuit let a request through");

  for (let i = 0; i < 60 && breaker.state(origin) !== "half-open"; i++) await sleep(50);
  assert(breaker.state(origin) === "half-open", `still ${breaker.state(origin)} after 3 s`);
  within(performance.now() - openedAt, COOLDOWN, 3000, "cooldown");
  assert((await call()) === 200, "the probe reaches the recovered server");
  assert(breaker.state(origin) === "closed", `state ${breaker.state(origin)} after the probe`);
  assert((await call()) === 200, "closed again");
  const n = await requests(t, id);
  assert(n === 6, `the server saw ${n} requests, expected 6 (4 failures, probe, 1 more)`);
});
