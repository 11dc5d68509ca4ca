/**
 * Redirects the wrapper follows itself. When it streams a buffered body,
 * the runtime sees a stream and would refuse a 307/308 (a stream cannot be
 * replayed), where bare fetch, given the buffer, follows it. So for those
 * requests the wrapper asks for `redirect: "manual"` and follows as the
 * Fetch standard's "HTTP-redirect fetch" does, replaying the buffered source.
 *
 * @module
 */

/** Statuses fetch follows (Fetch standard, "redirect status"). */
export const REDIRECT_STATUS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Fetch's limit on redirects per request. */
export const MAX_REDIRECTS = 20;

/** Header names a redirect that becomes a GET drops (Fetch standard, "request-body-header name"). */
const BODY_HEADERS = ["content-encoding", "content-language", "content-location", "content-type"];

/**
 * Dropped when a redirect leaves the origin: credentials meant for the first
 * origin (the standard names `authorization`; undici, and so Node, also drops
 * these, and this path runs on Node, Bun and workerd only).
 */
const CROSS_ORIGIN_DROPPED = ["authorization", "proxy-authorization", "cookie", "host"];

/** The next request of a redirect chain. */
export interface Hop {
  url: string;
  method: string;
  headers: Headers;
  /** Whether the body is sent again (307/308, or a method that stays). */
  keepBody: boolean;
}

/**
 * Where a redirect response leads, as fetch would go: `undefined` when the
 * response is not a redirect to follow (not a redirect status, or no
 * `Location`: fetch returns such a response as it is).
 *
 * @param from The request that got `res`; its headers are copied, not changed.
 * @param count Redirects already followed.
 * @throws {TypeError} for a bad `Location`, a non-HTTP(S) target, or too many redirects, as fetch rejects.
 */
export function nextHop(
  from: { url: string; method: string; headers: Headers },
  res: Response,
  count: number,
): Hop | undefined {
  if (!REDIRECT_STATUS.has(res.status)) return undefined;
  const location = res.headers.get("location");
  if (location === null) return undefined;
  let target: URL;
  try {
    target = new URL(location, from.url);
  } catch (cause) {
    throw new TypeError(`fetch failed: invalid redirect location ${JSON.stringify(location)}`, {
      cause,
    });
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(`fetch failed: redirect to a non-HTTP(S) URL (${target.protocol})`);
  }
  if (count >= MAX_REDIRECTS) throw new TypeError("fetch failed: redirect count exceeded");
  const headers = new Headers(from.headers);
  let method = from.method;
  let keepBody = true;
  if (
    ((res.status === 301 || res.status === 302) && method === "POST") ||
    (res.status === 303 && method !== "GET" && method !== "HEAD")
  ) {
    method = "GET";
    keepBody = false;
    for (const name of BODY_HEADERS) headers.delete(name);
    headers.delete("content-length");
  }
  if (target.origin !== new URL(from.url).origin) {
    for (const name of CROSS_ORIGIN_DROPPED) headers.delete(name);
  }
  target.hash ||= new URL(from.url).hash; // a fragment carries over (Fetch, step 17 of HTTP-redirect fetch)
  return { url: target.href, method, headers, keepBody };
}
