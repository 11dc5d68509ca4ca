/**
 * The response a caller gets: the runtime's response with its body watched,
 * and otherwise the same — built with the wrapped fetch's own `Response`
 * class, `url`/`redirected`/`type` kept (also on `clone()`), headers
 * immutable as fetch's are. A response the caller drops is released as fetch
 * releases it, when the garbage collector finds it.
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

/** What a watched response keeps of the runtime's. */
interface Meta {
  url: string;
  redirected: boolean;
  type: ResponseType;
  headers: Headers;
  /** Set only for a status the `Response` constructor rejects (999), which fetch delivers. */
  status?: number;
  statusText?: string;
}

const META = Symbol("timebound.meta");

type ResponseClass = new (body?: BodyInit | null, init?: ResponseInit) => Response;

/** One subclass per `Response` class met (the runtime's, undici's, another realm's). */
const subclasses = new WeakMap<
  ResponseClass,
  new (
    body: ReadableStream,
    init: ResponseInit,
    meta: Meta,
  ) => Response
>();

function subclassOf(Base: ResponseClass) {
  let Sub = subclasses.get(Base);
  if (Sub) return Sub;
  // Getters on the prototype, not properties defined per response: this is
  // the per-request path.
  Sub = class WatchedResponse extends Base {
    [META]: Meta | undefined;
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
      return this[META]?.type ?? super.type;
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
      return new WatchedResponse(
        copy.body,
        { status: super.status, statusText: super.statusText, headers: meta.headers },
        meta,
      );
    }
  } as unknown as new (
    body: ReadableStream,
    init: ResponseInit,
    meta: Meta,
  ) => Response;
  subclasses.set(Base, Sub);
  return Sub;
}

/** A watched response and the switches that end its body. */
export interface WatchedBody {
  /** Errors the body with `reason` (a timeout or the caller's abort) and releases the connection. */
  fail(reason: unknown): void;
  /** Whether the caller has started to read it. */
  readonly started: boolean;
}

/** What {@linkcode watchResponse} reports back. */
export interface WatchHooks {
  /** Turns a read error into what the caller sees (the timeout or the caller's own abort reason). */
  mapError(error: unknown): unknown;
  /** The body ended: read to the end or cancelled (`undefined`), or errored. Called once. */
  onEnd(error: unknown): void;
}

/**
 * Wraps `res` so every body read is read progress. Returns `undefined` only
 * if the response cannot be rebuilt at all: the caller then gets `res`
 * itself, still bounded by the attempt's abort.
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
    return meta.followed ? rebuild(res, null, meta) : { response: res, body: undefined };
  }
  nativeBytes ??= isByteStream(body);
  const bytes = nativeBytes;
  const reader = body.getReader();
  let ctrl!: ReadableByteStreamController;
  let ended = false;
  let started = false;
  const end = (error: unknown): void => {
    if (ended) return;
    ended = true;
    wd.end();
    hooks.onEnd(error);
  };
  // Not an async function: one promise per read instead of two, on the
  // path every response chunk takes.
  const step = (c: ReadableByteStreamController): Promise<void> =>
    reader.read().then(
      (r) => {
        if (ended) return; // failed while we waited; the stream is already errored
        if (r.done) {
          end(undefined);
          c.close();
          c.byobRequest?.respond(0); // a pending BYOB read learns of the end
          return;
        }
        const chunk = r.value;
        wd.read(chunk.byteLength);
        if (ended) return; // that read found a deadline passed: fail() has run
        // A byte stream takes no empty chunk: read on.
        if (chunk.byteLength === 0) return step(c);
        // Enqueuing transfers the chunk's buffer: copy a view that shares
        // its buffer with other data (a pooled slice), hand over the rest.
        c.enqueue(
          chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
            ? chunk
            : chunk.slice(),
        );
      },
      (error: unknown) => {
        if (ended) return;
        const reason = hooks.mapError(error);
        end(reason);
        c.error(reason);
      },
    );
  // A byte stream where fetch's body is one (BYOB readers work on it), as on
  // Node, Deno and workerd; Bun's is not.
  const stream = new ReadableStream(
    {
      type: bytes ? "bytes" : undefined,
      // Typed as a byte controller; a default one has the same enqueue/close/error and no byobRequest.
      start(c) {
        ctrl = c as ReadableByteStreamController;
      },
      pull(c) {
        wd.readWait();
        started = true;
        return step(c as ReadableByteStreamController);
      },
      cancel(reason) {
        end(undefined);
        return reader.cancel(reason).catch(noop);
      },
    },
    { highWaterMark: 0 },
  );
  const rebuilt = rebuild(res, stream, meta);
  if (rebuilt === undefined) {
    // The runtime's response stays the caller's; give its body back.
    reader.releaseLock();
    return undefined;
  }
  return {
    response: rebuilt.response,
    body: {
      get started() {
        return started;
      },
      fail(reason) {
        if (ended) return;
        end(reason);
        try {
          ctrl.error(reason);
        } catch {
          // Already closed or errored: nothing to tell the caller.
        }
        reader.cancel(reason).catch(noop);
      },
    },
  };
}

function rebuild(
  res: Response,
  stream: ReadableStream<Uint8Array> | null,
  meta: { url: string; redirected: boolean },
): { response: Response; body: undefined } | undefined {
  const Sub = subclassOf(res.constructor as ResponseClass);
  const m: Meta = {
    url: meta.url,
    redirected: meta.redirected,
    type: res.type,
    headers: res.headers,
  };
  try {
    const init = { status: res.status, statusText: res.statusText, headers: res.headers };
    return { response: new Sub(stream as ReadableStream, init, m), body: undefined };
  } catch {
    // RangeError for a status outside 200–599 (999 from some WAFs), TypeError
    // for a status text that is not a reason-phrase: fetch delivered them, so
    // the response reports them as they came (the getters above).
  }
  try {
    m.status = res.status;
    m.statusText = res.statusText;
    const init = { status: 200, headers: res.headers };
    return { response: new Sub(stream as ReadableStream, init, m), body: undefined };
  } catch {
    return undefined;
  }
}
