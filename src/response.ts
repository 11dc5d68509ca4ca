/**
 * The response a caller gets: the runtime's response with its body watched,
 * and otherwise the same — built with the wrapped fetch's own `Response`
 * class, `url`/`redirected`/`type` kept (also on `clone()`), headers
 * immutable as fetch's are, a byte stream where the runtime's body is one. A
 * response the caller drops is released as fetch releases it, when the
 * garbage collector finds it (attempt.ts).
 *
 * @module
 */
import type { Watchdog } from "./watchdog.ts";

const noop = (): void => {};

/** Statuses whose responses cannot carry a body (Fetch standard, "null body status"). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** Whether this runtime's response bodies are byte streams (learned from the first one). */
let nativeBytes: boolean | undefined;

function isByteStream(body: ReadableStream): boolean {
  try {
    body.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

/** What a watched response says of itself where the rebuilt one would say otherwise. */
interface Meta {
  url: string;
  redirected: boolean;
  responseType: ResponseType;
  headers: Headers;
  /** Set only for a status the `Response` constructor rejects (999), which fetch delivers. */
  status: number | undefined;
  statusText: string | undefined;
}

const META = Symbol("timebound.meta");
/** Which of its watched body's handles a response is (0 the first; clones after). */
const HANDLE = Symbol("timebound.handle");

/**
 * Responses the caller dropped without finishing their body are released
 * when collected, as fetch releases them (undici cancels a collected body the
 * same way). A clone is a handle too: the body is released once every
 * response sharing it is collected, unless the caller still holds one of
 * their bodies (a reader, a pipe): then it stays theirs, under its limits.
 * Nothing reachable from the attempt's timer refers to these responses.
 */
const collected =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<{ body: WatchedBody; handle: number }>(({ body, handle }) =>
        body.collected(handle),
      )
    : undefined;

type ResponseClass = new (body?: BodyInit | null, init?: ResponseInit) => Response;
type WatchedClass = new (body: ReadableStream | null, init: ResponseInit, meta: Meta) => Response;

/** One subclass per `Response` class met (the runtime's, undici's, another realm's). */
const subclasses = new WeakMap<ResponseClass, WatchedClass>();

function subclassOf(Base: ResponseClass): WatchedClass {
  let Sub = subclasses.get(Base);
  if (Sub) return Sub;
  // Getters on the prototype, not properties defined per response: this is
  // the per-request path.
  Sub = class WatchedResponse extends Base {
    [META]: Meta | undefined;
    [HANDLE] = 0;
    constructor(body?: BodyInit | null, init?: ResponseInit, meta?: Meta) {
      super(body, init);
      this[META] = meta;
    }
    override get url(): string {
      return this[META]?.url ?? super.url;
    }
    override get redirected(): boolean {
      return this[META]?.redirected ?? super.redirected;
    }
    override get type(): ResponseType {
      return this[META]?.responseType ?? super.type;
    }
    /** The runtime's own headers object: immutable, as fetch's are. */
    override get headers(): Headers {
      return this[META]?.headers ?? super.headers;
    }
    override get status(): number {
      return this[META]?.status ?? super.status;
    }
    override get statusText(): string {
      return this[META]?.statusText ?? super.statusText;
    }
    override get ok(): boolean {
      const status = this[META]?.status;
      return status === undefined ? super.ok : status >= 200 && status <= 299;
    }
    override clone(): Response {
      const meta = this[META];
      if (!meta) return super.clone();
      const copy = super.clone();
      // The copy is of the base class: give it what this one says of itself.
      const out = new WatchedResponse(
        copy.body,
        { status: super.status, statusText: super.statusText, headers: meta.headers },
        meta,
      );
      // Cloning tees the body: this response now reads one branch, the copy the other.
      if (meta instanceof WatchedBody) {
        meta.retrack(this[HANDLE], this.body);
        out[HANDLE] = meta.track(out);
      }
      return out;
    }
  } as unknown as WatchedClass;
  subclasses.set(Base, Sub);
  return Sub;
}

/** What {@linkcode watchResponse} reports back. */
export interface WatchHooks {
  /** Turns a read error into what the caller sees (the timeout or the caller's own abort reason). */
  mapError(error: unknown): unknown;
  /** The body ended: read to the end or cancelled (`undefined`), or errored. Called once. */
  onEnd(error: unknown): void;
}

/**
 * A watched body: the underlying source of the stream the caller reads, and
 * the response's {@linkcode Meta}. One object per response (a class, not
 * closures: this is the per-request path). It holds the stream's controller
 * and the runtime's reader, never the response the caller holds.
 */
export class WatchedBody implements Meta {
  /** For the stream: `"bytes"` where the runtime's body is a byte stream. */
  readonly type: "bytes" | undefined;
  readonly responseType: ResponseType;
  readonly url: string;
  readonly redirected: boolean;
  readonly headers: Headers;
  status: number | undefined = undefined;
  statusText: string | undefined = undefined;
  /** Whether the caller has started to read. */
  started = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>> | undefined;
  private readonly wd: Watchdog;
  private readonly hooks: WatchHooks;
  private ctrl: ReadableByteStreamController | undefined;
  /** The streams the caller's responses read (one per handle: the first, then clones). */
  private readonly streams: (ReadableStream | null)[] = [];
  /** Handles not yet collected. */
  private live = 0;
  /** A collected handle's body was still held by the caller: the body is theirs. */
  private kept = false;
  private ended = false;

  constructor(
    res: Response,
    reader: ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>> | undefined,
    wd: Watchdog,
    hooks: WatchHooks,
    meta: { url: string; redirected: boolean },
  ) {
    this.type = nativeBytes ? "bytes" : undefined;
    this.responseType = res.type;
    this.url = meta.url;
    this.redirected = meta.redirected;
    this.headers = res.headers;
    this.reader = reader;
    this.wd = wd;
    this.hooks = hooks;
  }

  /** Starts tracking `response` (reading `stream`) for collection; returns its handle. */
  track(response: Response): number {
    const handle = this.streams.length;
    this.streams.push(response.body);
    this.live++;
    collected?.register(response, { body: this, handle }, this);
    return handle;
  }

  /** A handle now reads another stream (its response was cloned: one branch of the tee). */
  retrack(handle: number, stream: ReadableStream | null): void {
    this.streams[handle] = stream;
  }

  /**
   * A response sharing this body was collected. The body is released
   * (cancelled: neither a success nor a failure) when the last one is,
   * unless the caller still held one's body.
   */
  collected(handle: number): void {
    if (this.ended) return;
    if (this.streams[handle]?.locked) this.kept = true;
    this.streams[handle] = null;
    if (--this.live > 0 || this.kept) return;
    this.fail(undefined);
  }

  private end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    collected?.unregister(this);
    this.wd.end();
    this.hooks.onEnd(error);
  }

  // --- the underlying source (typed as a byte source; a default controller
  // has the same enqueue/close/error and no byobRequest) ---

  start(c: ReadableByteStreamController): void {
    this.ctrl = c;
  }

  pull(c: ReadableByteStreamController): Promise<void> {
    this.wd.readWait();
    this.started = true;
    return this.step(c);
  }

  cancel(reason: unknown): Promise<void> | undefined {
    this.end(undefined);
    return this.reader?.cancel(reason).catch(noop);
  }

  /** One read of the runtime's body. Not async: one promise per read instead of two. */
  private step(c: ReadableByteStreamController): Promise<void> {
    return this.reader!.read().then(
      (r) => {
        if (this.ended) return; // failed while we waited; the stream is already errored
        if (r.done) {
          this.end(undefined);
          c.close();
          c.byobRequest?.respond(0); // a pending BYOB read learns of the end
          return;
        }
        const chunk = r.value;
        this.wd.read(chunk.byteLength);
        if (this.ended) return; // that read found a deadline passed: fail() has run
        // A byte stream takes no empty chunk: read on.
        if (chunk.byteLength === 0) return this.step(c);
        // Enqueuing into a byte stream transfers the chunk's buffer: copy a
        // view that shares its buffer with other data, hand over the rest.
        c.enqueue(
          chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
            ? chunk
            : chunk.slice(),
        );
      },
      (error: unknown) => {
        if (this.ended) return;
        const reason = this.hooks.mapError(error);
        this.end(reason);
        c.error(reason);
      },
    );
  }

  /** Errors the body with `reason` (a timeout, the caller's abort; `undefined`: released) and frees the connection. */
  fail(reason: unknown): void {
    if (this.ended) return;
    this.end(reason);
    try {
      this.ctrl?.error(reason);
    } catch {
      // Already closed or errored: nothing to tell the caller.
    }
    this.reader?.cancel(reason).catch(noop);
  }
}

/**
 * Wraps `res` so every body read is read progress. Returns the response to
 * hand over and its watched body (`undefined` when there is no body: the
 * attempt has then ended). Returns `undefined` only if the response cannot
 * be rebuilt at all: the caller then gets `res` itself, still bounded by the
 * attempt's abort.
 */
export function watchResponse(
  res: Response,
  wd: Watchdog,
  hooks: WatchHooks,
  meta: { url: string; redirected: boolean; followed: boolean },
): { response: Response; body: WatchedBody | undefined } | undefined {
  const body = res.body;
  if (body === null || NULL_BODY_STATUS.has(res.status)) {
    body?.cancel().catch(noop);
    wd.end();
    hooks.onEnd(undefined);
    // Nothing to watch: the runtime's own response, unless it must say where our redirects led.
    if (!meta.followed) return { response: res, body: undefined };
    const response = rebuild(res, null, new WatchedBody(res, undefined, wd, hooks, meta));
    return response && { response, body: undefined };
  }
  nativeBytes ??= isByteStream(body);
  const watched = new WatchedBody(res, body.getReader(), wd, hooks, meta);
  // The watched body is the stream's underlying source: a byte stream where
  // fetch's body is one (BYOB readers work on it), as on Node, Deno and
  // workerd; Bun's is not.
  const stream = new ReadableStream(watched as UnderlyingByteSource, { highWaterMark: 0 });
  const response = rebuild(res, stream, watched);
  if (response === undefined) {
    watched.fail(undefined);
    return undefined;
  }
  watched.track(response);
  return { response, body: watched };
}

function rebuild(
  res: Response,
  stream: ReadableStream | null,
  meta: WatchedBody,
): Response | undefined {
  const Sub = subclassOf(res.constructor as ResponseClass);
  try {
    const init = { status: res.status, statusText: res.statusText, headers: res.headers };
    return new Sub(stream, init, meta);
  } catch {
    // RangeError for a status outside 200–599 (999 from some WAFs), TypeError
    // for a status text that is not a reason-phrase: fetch delivered them, so
    // the response reports them as they came (the getters above).
  }
  try {
    meta.status = res.status;
    meta.statusText = res.statusText;
    return new Sub(stream, { status: 200, headers: res.headers }, meta);
  } catch {
    return undefined;
  }
}
