/**
 * HTTP URL and method checks shared by the HTTP authenticators and the
 * webhooks: validation of a service URL, the form of a URL safe for a log
 * line, and hex of a digest.
 *
 * @module
 */

const FORBIDDEN_METHODS = ["CONNECT", "TRACE", "TRACK"];

/**
 * Check and upper-case an HTTP method name.
 *
 * @throws {TypeError} when it is not a token or is one fetch refuses
 */
export function normalizeMethod(method: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
    throw new TypeError(`Not an HTTP method: ${JSON.stringify(method)}`);
  }
  const upper = method.toUpperCase();
  if (FORBIDDEN_METHODS.includes(upper)) {
    throw new TypeError(`HTTP method ${JSON.stringify(method)} can't be sent by fetch`);
  }
  return upper;
}

/**
 * Check an authentication service URL.
 *
 * @throws {TypeError} when it is not an absolute http(s) URL or carries credentials
 */
export function normalizeServiceUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Not a URL: ${JSON.stringify(String(url))}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`Not an http(s) URL: ${JSON.stringify(redactUrl(parsed))}`);
  }
  if (parsed.username || parsed.password) {
    throw new TypeError(
      `URL must not contain user:password@ (the FTP user's credentials are sent instead): ${
        JSON.stringify(redactUrl(parsed))
      }`,
    );
  }
  parsed.hash = "";
  return parsed;
}

/**
 * The URL as it may appear in a log line: no credentials and no query (a
 * webhook's query carries the password hash; others may carry API keys).
 */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? "?…" : ""}`;
}

/** Lower-case hex of bytes. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(
    bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}
