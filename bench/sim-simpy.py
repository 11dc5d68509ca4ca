#!/usr/bin/env python3
"""The simulator's upload model (sim/upload.ts, sim/_link.ts, src/watchdog.ts)
ported line by line to SimPy, for issue 4's speed comparison.

Same model, same events: each thing the TypeScript model schedules on its
VirtualClock (the start, each writer wake-up, the response headers, each
watchdog timer) is one SimPy Timeout here, with the model code in its
callback. SimPy cannot cancel a Timeout, so a cancelled one stays in its
heap, is popped and does nothing (the VirtualClock skips cancelled entries
too, without running them); "events" counts callbacks that did something,
in both.

Only what bench/sim-kernel's workload uses is ported (the sampled paths of
bench/sim-upload.ts): streaming proxy, no tarpit, no token bucket, no
minRate, no timer lateness, no trace. Floating-point operations are kept in
the TypeScript order, so the results agree to the last bit or nearly.

Run by bench/sim-simpy.ts:
    /usr/bin/python3 bench/sim-simpy.py <paths.jsonl> <results.jsonl>
Prints {"seconds": wall time of the simulations, "events": ..., "pops": ...}.
"""

import json
import math
import sys
import time

import simpy

INF = math.inf
SEGMENT_PAYLOAD = 1448
SEGMENT_WIRE = 1514
INITIAL_WINDOW = 10 * SEGMENT_PAYLOAD
SKB_OVERSHOOT_BYTES = 45 * SEGMENT_PAYLOAD / 2

# sim/_link.ts: limit codes and the curve's layout (t, x, rate, info).
LIMIT_LINK, LIMIT_PEAK, LIMIT_SHAPER, LIMIT_TARPIT, LIMIT_WINDOW, LIMIT_ACKS, LIMIT_NONE = range(7)
INFO_ROUND = 16


class SendCurve:
    __slots__ = ("t", "x", "r", "n", "end_ms", "last_x", "cursor")

    def __init__(self, t, x, r, end_ms):
        self.t, self.x, self.r = t, x, r
        self.n = len(t)
        self.end_ms = end_ms
        self.last_x = x[-1]
        self.cursor = 0

    def time_of(self, y):
        x = self.x
        if y > self.last_x:
            return INF
        if y <= x[0]:
            return self.t[0]
        i = self.cursor
        if x[i] >= y:
            i = 0
        while x[i + 1] < y:
            i += 1
        self.cursor = i
        return self.t[i] + (y - x[i]) / self.r[i]

    def value_at(self, t):
        ts = self.t
        if t < ts[0]:
            return 0
        lo, hi = 0, self.n - 1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if ts[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        if lo == self.n - 1:
            return self.x[lo]
        return min(self.x[lo] + self.r[lo] * (t - ts[lo]), self.x[lo + 1])


def build_send_curve(start_ms, nbytes, rate, shaper_rate, rtt, slow_start, window_cap, cut_at):
    """buildSendCurve for burst 0, no peak rate, no tarpit."""
    T, X, R, I = [], [], [], []

    def push(t, x, r, info):
        if T:
            if R[-1] == r and I[-1] == info:
                return
            if T[-1] == t and X[-1] == x:
                T.pop(), X.pop(), R.pop(), I.pop()
                if T and R[-1] == r and I[-1] == info:
                    return
        T.append(t), X.append(x), R.append(r), I.append(info)

    window_rate = window_cap / rtt if rtt > 0 else INF
    t = start_ms
    x = 0
    rnd = 0
    window = min(INITIAL_WINDOW, window_cap)
    slow = slow_start and rtt > 0 and window < window_cap
    round_end = t + rtt
    left = window
    while x < nbytes and t < cut_at:
        if slow and left <= 0:
            until = min(round_end, cut_at)
            push(t, x, 0, LIMIT_ACKS + INFO_ROUND * (rnd + 1))
            t = until
            if t >= cut_at:
                break
            rnd += 1
            window = min(window * 2, window_cap)
            if window >= window_cap:
                slow = False
            left = window
            round_end = t + rtt
            continue
        r = rate
        limit = LIMIT_LINK
        if shaper_rate < r:
            r = shaper_rate
            limit = LIMIT_SHAPER
        if not slow and window_rate < r:
            r = window_rate
            limit = LIMIT_WINDOW
        dt = (nbytes - x) / r
        hit = 0
        if cut_at - t <= dt:
            dt = cut_at - t
            hit = 2
        if slow:
            if left / r < dt:
                dt = left / r
                hit = 4
            if round_end - t < dt:
                dt = round_end - t
                hit = 5
        push(t, x, r, limit + INFO_ROUND * (rnd + 1 if slow else 0))
        if slow:
            left -= r * dt
        if hit == 0:
            t += dt
            x = nbytes
        else:
            x = min(nbytes, x + r * dt)
            if hit == 2:
                t = cut_at
            else:
                t += dt
            if hit == 4:
                left = 0
            elif hit == 5:
                slow = False
    push(t, x, 0, LIMIT_NONE)
    return SendCurve(T, X, R, t if x >= nbytes else INF)


class Clock:
    """setTimer/clearTimer on SimPy: a Timeout whose callback checks a flag."""

    __slots__ = ("env", "events")

    def __init__(self, env):
        self.env = env
        self.events = 0

    def schedule(self, at, fn):
        return self.set_timer(fn, at - self.env.now)

    def set_timer(self, fn, ms):
        handle = [fn]
        ev = self.env.timeout(ms)
        ev.callbacks.append(lambda _e: self._fire(handle))
        return handle

    def _fire(self, handle):
        fn = handle[0]
        if fn is not None:
            handle[0] = None
            self.events += 1
            fn()

    @staticmethod
    def clear(handle):
        if handle is not None:
            handle[0] = None


RUNNING, ENDED, EXPIRED = 0, 1, 2


class Watchdog:
    """src/watchdog.ts for total, headers and writeIdle (no pauses, no minRate)."""

    def __init__(self, clock, total, headers, write_idle, on_expire):
        self.clock = clock
        self.total, self.headers_limit, self.write_idle = total, headers, write_idle
        self.on_expire = on_expire
        self.state = RUNNING
        self.headers_from = math.nan
        self.up_last = None  # the upload flow: time of its last progress, or None
        self.down = False
        self.bytes_sent = 0
        self.timer = None
        self.armed_at = INF
        self.due_phase = "total"
        self.started_at = clock.env.now
        at = self.earliest()
        if at != INF:
            self.armed_at = at
            self.timer = clock.set_timer(self.tick, max(0, at - clock.env.now))

    def tick(self):
        self.timer = None
        self.armed_at = INF
        if self.state == RUNNING:
            self.evaluate(self.clock.env.now)

    def write_start(self):
        if self.state != RUNNING or self.up_last is not None:
            return
        now = self.clock.env.now
        self.up_last = now
        self.rearm_if_earlier(now)

    def write_pull(self):
        if self.state != RUNNING or self.up_last is None:
            return
        now = self.clock.env.now
        self.up_last = now
        self.check(now)

    def wrote(self, n):
        self.bytes_sent += n
        if self.state != RUNNING or self.up_last is None:
            return
        now = self.clock.env.now
        self.up_last = now
        self.check(now)

    def write_end(self):
        if self.state != RUNNING:
            return
        now = self.clock.env.now
        self.up_last = None
        if not math.isnan(self.headers_from):
            return
        self.headers_from = now
        self.rearm_if_earlier(now)

    def headers_received(self):
        if self.state != RUNNING:
            return
        now = self.clock.env.now
        self.headers_from = INF
        self.up_last = None
        self.down = True  # readIdle off: its deadline is Infinity
        self.check(now)

    def end(self):
        if self.state != RUNNING:
            return
        self.state = ENDED
        self.disarm()

    def check(self, now):
        if now >= self.armed_at:
            self.evaluate(now)

    def rearm_if_earlier(self, now):
        if self.earliest() < self.armed_at:
            self.evaluate(now)

    def earliest(self):
        at = self.started_at + self.total
        self.due_phase = "total"
        if math.isfinite(self.headers_from):
            h = self.headers_from + self.headers_limit
            if h < at:
                at = h
                self.due_phase = "headers"
        if self.up_last is not None:
            # Flow.due(): since (0 here) + (last + idle − base), no pauses.
            d = self.up_last + self.write_idle
            if d < at:
                at = d
                self.due_phase = "writeIdle"
        return at

    def evaluate(self, now):
        at = self.earliest()
        if now >= at:
            self.state = EXPIRED
            self.disarm()
            self.on_expire(self.due_phase)
        elif at == INF:
            self.disarm()
        elif at != self.armed_at or self.timer is None:
            self.disarm()
            self.armed_at = at
            self.timer = self.clock.set_timer(self.tick, at - now)

    def disarm(self):
        if self.timer is not None:
            Clock.clear(self.timer)
            self.timer = None
        self.armed_at = INF


NONE, OK, TIMEOUT = 0, 1, 2


def goodput_per_ms(bits):
    return bits * SEGMENT_PAYLOAD / SEGMENT_WIRE / 8 / 1000


def simulate_upload(p):
    """sim/upload.ts's UploadRun for one path; returns what the driver compares."""
    env = simpy.Environment()
    clock = Clock(env)
    payload = p["payloadBytes"]
    chunk = p["chunkBytes"]
    client = goodput_per_ms(p["clientBitsPerSecond"])
    proxy = goodput_per_ms(p["proxyBitsPerSecond"])
    rtt = p["rttMs"]
    buffer = p["sendBufferBytes"]
    drop_at = INF if p.get("dropAtMs") is None else p["dropAtMs"]
    limits = p["timeouts"]
    wake_queue = 2 * buffer / 3
    # tcp_sendmsg's overshoot: half a TSO skb past the buffer (sim/upload.ts SKB_OVERSHOOT_BYTES)
    free_at_wake = buffer - wake_queue + SKB_OVERSHOOT_BYTES
    cut = drop_at - rtt / 2
    sent = build_send_curve(0, payload, client, proxy, rtt, True, min(INF, math.floor(wake_queue)), cut)
    headers_at = sent.end_ms + rtt

    st = {"outcome": NONE, "phase": None, "ended": INF, "written": 0, "held": 0, "handed": 0,
          "chunks": 0, "body_ended": False, "wake": None, "headers": None}

    def on_expire(phase):
        st["outcome"] = TIMEOUT
        st["phase"] = phase
        st["ended"] = env.now
        Clock.clear(st["wake"])
        Clock.clear(st["headers"])

    wd = Watchdog(clock, limits["total"], limits.get("headers", INF), limits["writeIdle"], on_expire)

    def fill(now, free_bytes):
        # The hot loop (one pass per chunk): state in locals, written back after.
        free = math.floor(free_bytes + 1e-9)
        held, handed, written, chunks = st["held"], st["handed"], st["written"], st["chunks"]
        pull, wrote = wd.write_pull, wd.wrote
        while True:
            if held == 0:
                if handed == payload:
                    pull()
                    if st["outcome"] != NONE:
                        break
                    wd.write_end()
                    st["body_ended"] = True
                    break
                if chunks == 0:
                    wd.write_start()
                else:
                    pull()
                if st["outcome"] != NONE:
                    break
                piece = min(chunk, payload - handed)
                handed += piece
                held = piece
                chunks += 1
                wrote(piece)
                if st["outcome"] != NONE:
                    break
            if free == 0:
                break
            k = held if held < free else free
            written += k
            held -= k
            free -= k
        st["held"], st["handed"], st["written"], st["chunks"] = held, handed, written, chunks
        if st["outcome"] != NONE or st["body_ended"]:
            return
        wake_at = sent.time_of(written - wake_queue) + rtt
        if wake_at != INF:
            st["wake"] = clock.schedule(wake_at, on_wake)

    def on_start():
        fill(0, buffer)

    def on_wake():
        st["wake"] = None
        if st["outcome"] != NONE:
            return
        fill(env.now, free_at_wake)

    def on_headers():
        st["headers"] = None
        if st["outcome"] != NONE:
            return
        wd.headers_received()
        if st["outcome"] != NONE:
            return
        wd.end()
        st["outcome"] = OK
        st["ended"] = env.now

    clock.schedule(0, on_start)
    if headers_at != INF:
        st["headers"] = clock.schedule(headers_at, on_headers)
    env.run()

    ended = st["ended"]
    if st["outcome"] == OK:
        delivered = payload
    else:
        delivered = sent.value_at(ended - rtt / 2)
    outcome = "ok" if st["outcome"] == OK else "timeout" if st["outcome"] == TIMEOUT else "hang"
    return {
        "outcome": outcome,
        "phase": st["phase"],
        "elapsedMs": ended if math.isfinite(ended) else None,
        "bytesDelivered": delivered,
        "bytesSent": wd.bytes_sent,
        "events": clock.events,
    }


def main():
    with open(sys.argv[1]) as f:
        paths = [json.loads(line) for line in f]
    pops = 0
    # Count SimPy's own heap pops too (cancelled Timeouts included): wrap step once.
    orig_step = simpy.Environment.step

    def counting_step(self):
        nonlocal pops
        pops += 1
        return orig_step(self)

    # Untimed pass for the pop count, timed pass without the wrapper.
    simpy.Environment.step = counting_step
    for p in paths:
        simulate_upload(p)
    simpy.Environment.step = orig_step
    t0 = time.perf_counter()
    results = [simulate_upload(p) for p in paths]
    seconds = time.perf_counter() - t0
    with open(sys.argv[2], "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    print(json.dumps({
        "seconds": seconds,
        "events": sum(r["events"] for r in results),
        "pops": pops,
        "simpy": simpy.__version__,
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
