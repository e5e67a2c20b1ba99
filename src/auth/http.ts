/**
 * What the HTTP authenticators share: one request with a timeout that never
 * throws and never lets a secret into a log line, and the optional
 * re-validation of a logged-in user against `authenticated_url`.
 *
 * @module
 */

import {
  type AuthContext,
  type Authenticator,
  AuthUnavailableError,
  type Credentials,
  type FtpUser,
} from "./types.ts";
import { parseProfile, ProfileError, profileOfBody } from "../policy/profile.ts";
import { readLimitedText } from "../http_body.ts";
import { normalizeMethod, normalizeServiceUrl, redactUrl, toHex } from "../http_url.ts";

// Kept here for importers of this module (and `@exftp/server/http`); they live in
// src/http_url.ts so the webhooks and the config can use them without loading
// the HTTP authenticators (RSS after start, issue 16).
export { normalizeMethod, normalizeServiceUrl, redactUrl, toHex };

/** Default request timeout of the HTTP authenticators, in ms. */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/** Default interval between two re-validations of one session's user, in ms. */
export const DEFAULT_AUTHENTICATED_TTL_MS = 60_000;

/** Options shared by every HTTP authenticator. */
export interface HttpAuthenticatorOptions {
  /** The URL asked at login (http or https, without user:password@). */
  loginUrl: string | URL;
  /** HTTP method of the login request. @default {"GET"} */
  loginMethod?: string;
  /** Give up on a request (and refuse the login) after this many ms. @default {10000} */
  timeoutMs?: number;
  /**
   * When set, each session asks this URL, with the same proof of identity as
   * at login, whether its user is still valid; any answer but 200 (a redirect
   * too) ends the session with 421.
   */
  authenticatedUrl?: string | URL;
  /** HTTP method of the re-validation request. @default {"GET"} */
  authenticatedMethod?: string;
  /** Ask {@linkcode authenticatedUrl} at most once per this many ms per session. @default {60000} */
  authenticatedTtlMs?: number;
}

/** Where and how a request goes. */
export interface HttpTarget {
  /** The URL (query parameters may be added per request). */
  url: URL;
  /** The HTTP method. */
  method: string;
}

/** The proof of identity of Basic and Digest: the credentials themselves. */
export interface UsernamePassword {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
}

/** What came back from {@linkcode HttpClient.request}. */
export type HttpOutcome =
  | {
    ok: true;
    /** The status (redirects are not followed: a 3xx is returned as it is). */
    status: number;
    /** The response headers. */
    headers: Headers;
    /** The URL asked. */
    url: URL;
    /** The body, when asked for (at most 64 KiB are read). */
    body?: string;
  }
  | {
    ok: false;
    /** Why there is no answer (no secrets, no query): a network error or a timeout. */
    reason: string;
  };

/** One request to send. */
export interface HttpRequest extends HttpTarget {
  /** Request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Read (up to 64 KiB of) the body instead of discarding it. */
  readBody?: boolean;
  /** Strings that must never reach a log line (password, token, hash). */
  secrets?: string[];
}

const MAX_BODY_BYTES = 64 * 1024;

function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Encode text as base64 (UTF-8 bytes), for `Authorization: Basic`. */
export function base64Utf8(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Sends the authenticators' requests: native fetch, redirects **not**
 * followed (a 3xx comes back as the outcome, so credentials only ever go to
 * the URL asked), a timeout covering the whole exchange, every body consumed
 * or cancelled. It never throws: a network error or a timeout is an outcome
 * `{ ok: false }` plus an error-level log line naming the URL (without query
 * or secrets).
 *
 * @example
 * ```ts
 * import { HttpClient } from "@exftp/server/http";
 * const client = new HttpClient(2_000);
 * // Nothing listens on port 9: an outcome, not an exception.
 * const outcome = await client.request({ url: new URL("http://127.0.0.1:9/"), method: "GET" });
 * console.assert(!outcome.ok);
 * ```
 */
export class HttpClient {
  /** The timeout of each request, in ms. */
  readonly timeoutMs: number;

  /**
   * Make a client whose requests give up after `timeoutMs`.
   *
   * @throws {RangeError} for a timeout that is not a positive number
   */
  constructor(timeoutMs: number = DEFAULT_HTTP_TIMEOUT_MS) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
      throw new RangeError(`Timeout must be a positive number of ms, got ${timeoutMs}`);
    }
    this.timeoutMs = timeoutMs;
  }

  /** Send one request; see the class documentation. */
  async request(request: HttpRequest, context?: AuthContext): Promise<HttpOutcome> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        redirect: "manual",
        signal: controller.signal,
      });
      let body: string | undefined;
      if (request.readBody) body = await readLimitedText(response, MAX_BODY_BYTES);
      else await response.body?.cancel();
      return {
        ok: true,
        status: response.status,
        headers: response.headers,
        url: request.url,
        body,
      };
    } catch (error) {
      const reason = timedOut
        ? `no answer within ${this.timeoutMs} ms`
        : scrub(error instanceof Error ? error.message : String(error), request);
      context?.log("error", "Authentication service unreachable", {
        url: redactUrl(request.url),
        method: request.method,
        error: reason,
      });
      return { ok: false, reason: `${redactUrl(request.url)}: ${reason}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Remove the URL's query and every secret from an error message. */
function scrub(message: string, request: HttpRequest): string {
  let text = message.replaceAll(request.url.href, redactUrl(request.url));
  if (request.url.search) text = text.replaceAll(request.url.search, "?…");
  for (const secret of request.secrets ?? []) {
    if (secret.length === 0) continue;
    text = text.replaceAll(secret, "***").replaceAll(encodeURIComponent(secret), "***");
  }
  return text;
}

/** A service's verdict on a proof of identity. */
export interface HttpVerdict {
  /** Whether the service said yes (HTTP 200). */
  ok: boolean;
  /** The user name the service reports, when it names one. */
  username?: string;
  /** The JSON object of a 200's body (the user's profile), when it sent one. */
  profile?: Record<string, unknown>;
  /**
   * Set when the service could not decide (unreachable, timed out, 5xx): why,
   * without secrets. The login is then answered 421 and not counted as a failure.
   */
  unavailable?: string;
}

/**
 * The base of the HTTP authenticators. A subclass turns credentials into a
 * *proof* (the user name and password, a token, a password hash) and asks a
 * URL about it. With `authenticatedUrl`, the proof is kept with the user
 * object the session holds (a `WeakMap` keyed by that object, never by the
 * user name), so each session re-proves its own login and one session's login
 * can never stand in for another's.
 *
 * @typeParam Proof what a subclass sends to prove an identity
 *
 * @example
 * ```ts
 * import { HttpAuthenticator, type HttpTarget, type HttpVerdict } from "@exftp/server/http";
 * import type { AuthContext, Credentials } from "@exftp/server";
 *
 * // The FTP password is an API key, sent in a header of the service's choice.
 * class ApiKeyAuthenticator extends HttpAuthenticator<{ username: string; key: string }> {
 *   constructor(loginUrl: string) {
 *     super("api_key", { loginUrl });
 *   }
 *   protected proofOf({ username, password }: Credentials) {
 *     return Promise.resolve(password ? { username, key: password } : null);
 *   }
 *   protected async ask(
 *     proof: { username: string; key: string },
 *     target: HttpTarget,
 *     context?: AuthContext,
 *   ): Promise<HttpVerdict> {
 *     const outcome = await this.http.request(
 *       { ...target, headers: { "X-Api-Key": proof.key }, secrets: [proof.key] },
 *       context,
 *     );
 *     return this.verdictOf(outcome, target, context);
 *   }
 * }
 * const authenticator = new ApiKeyAuthenticator("https://auth.example.com/key");
 * ```
 */
export abstract class HttpAuthenticator<Proof> implements Authenticator {
  /** The login URL. */
  readonly loginUrl: URL;
  /** The login request's method. */
  readonly loginMethod: string;
  /** The re-validation URL, when set. */
  readonly authenticatedUrl?: URL;
  /** The re-validation request's method. */
  readonly authenticatedMethod: string;
  /** See {@linkcode Authenticator.revalidateEveryMs}. */
  readonly revalidateEveryMs?: number;
  /** See {@linkcode Authenticator.isStillValid}; present only with `authenticatedUrl`. */
  readonly isStillValid?: (user: FtpUser, context?: AuthContext) => Promise<boolean>;
  /** Set when the login URL is plain http to another host. */
  readonly warning?: string;
  /** Sends the requests. */
  protected readonly http: HttpClient;
  readonly #proofs = new WeakMap<FtpUser, Proof>();

  /**
   * Check the options and set up re-validation when `authenticatedUrl` is given.
   *
   * @param name the authenticator's config name, for messages
   * @throws {TypeError} for a bad URL or method
   * @throws {RangeError} for a bad timeout or TTL
   */
  constructor(name: string, options: HttpAuthenticatorOptions) {
    this.loginUrl = normalizeServiceUrl(options.loginUrl);
    this.loginMethod = normalizeMethod(options.loginMethod ?? "GET");
    this.http = new HttpClient(options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS);
    this.authenticatedMethod = normalizeMethod(options.authenticatedMethod ?? "GET");
    if (this.loginUrl.protocol === "http:" && !isLoopback(this.loginUrl)) {
      this.warning = `authenticator ${name}: ${
        redactUrl(this.loginUrl)
      } is plain http, so credentials cross the network unencrypted`;
    }
    if (options.authenticatedUrl !== undefined) {
      this.authenticatedUrl = normalizeServiceUrl(options.authenticatedUrl);
      const ttl = options.authenticatedTtlMs ?? DEFAULT_AUTHENTICATED_TTL_MS;
      if (!Number.isFinite(ttl) || ttl < 0) {
        throw new RangeError(`TTL must be a number of ms of at least 0, got ${ttl}`);
      }
      this.revalidateEveryMs = ttl;
      const target = { url: this.authenticatedUrl, method: this.authenticatedMethod };
      this.isStillValid = async (user, context) => {
        const proof = this.#proofs.get(user);
        // A user object this authenticator did not produce proves nothing.
        if (proof === undefined) return false;
        const verdict = await this.ask(proof, target, context);
        if (verdict.unavailable !== undefined) throw new AuthUnavailableError(verdict.unavailable);
        // A service that now names someone else no longer vouches for this user.
        const valid = verdict.ok &&
          (verdict.username === undefined || verdict.username === user.username);
        if (!valid) {
          context?.log("info", "Authentication service no longer accepts the user", {
            url: redactUrl(this.authenticatedUrl!),
            username: user.username,
          });
        }
        return valid;
      };
    } else if (options.authenticatedMethod !== undefined) {
      throw new TypeError("authenticatedMethod needs authenticatedUrl");
    } else if (options.authenticatedTtlMs !== undefined) {
      throw new TypeError("authenticatedTtlMs needs authenticatedUrl");
    }
  }

  /**
   * Ask the login URL; on HTTP 200, resolve with the user.
   *
   * @throws {AuthUnavailableError} when the service is unreachable, times out or answers 5xx
   */
  async authenticate(credentials: Credentials, context?: AuthContext): Promise<FtpUser | null> {
    let verdict: HttpVerdict;
    let proof: Proof | null;
    try {
      proof = await this.proofOf(credentials);
      if (proof === null) return null;
      verdict = await this.ask(proof, { url: this.loginUrl, method: this.loginMethod }, context);
    } catch (error) {
      // Subclasses don't throw on purpose; a bug must still be a refusal
      // whose message can't carry the password.
      context?.log("error", "Authenticator failed", {
        url: redactUrl(this.loginUrl),
        error: error instanceof Error ? error.name : "Error",
      });
      return null;
    }
    if (verdict.unavailable !== undefined) throw new AuthUnavailableError(verdict.unavailable);
    if (!verdict.ok) return null;
    let user: FtpUser;
    try {
      // All or nothing: a wrong field refuses the login, never a partial policy.
      user = parseProfile(verdict.profile ?? {}, verdict.username ?? credentials.username);
    } catch (error) {
      if (!(error instanceof ProfileError)) throw error;
      context?.log("warn", "Authentication service sent a malformed profile: login refused", {
        url: redactUrl(this.loginUrl),
        field: error.field,
        problem: error.problem,
      });
      return null;
    }
    if (this.authenticatedUrl) this.#proofs.set(user, proof);
    return user;
  }

  /** The proof of identity for these credentials, or `null` to refuse without asking. */
  protected abstract proofOf(credentials: Credentials): Promise<Proof | null>;

  /**
   * Ask a URL whether a proof is good (HTTP 200). Never throws: an outage is
   * a verdict with `unavailable` set.
   */
  protected abstract ask(
    proof: Proof,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict>;

  /**
   * The usual verdict of a plain request: yes on 200 only (other 2xx are
   * refusals, as the service may not mean yes by them); no on 401/403; no on a
   * redirect, logged with its `Location` (it is never followed, so the
   * credentials go nowhere else); an outage on no answer or 5xx; a warning for
   * any other answer, so misconfigured services show in the log.
   */
  protected verdictOf(
    outcome: HttpOutcome,
    target: HttpTarget,
    context?: AuthContext,
  ): HttpVerdict {
    if (!outcome.ok) return { ok: false, unavailable: outcome.reason };
    const { status } = outcome;
    if (status === 200) return profileVerdict(outcome.body, target, context);
    const fields = { url: redactUrl(target.url), method: target.method, status };
    if (status >= 500) {
      context?.log("error", "Authentication service failed", fields);
      return { ok: false, unavailable: `${fields.url}: HTTP ${status}` };
    }
    if (status >= 300 && status < 400) {
      const location = outcome.headers.get("location");
      let where = location ?? "(none)";
      try {
        if (location !== null) where = redactUrl(new URL(location, target.url));
      } catch {
        where = "(not a URL)";
      }
      context?.log("warn", "Authentication service answered with a redirect: login refused", {
        ...fields,
        location: where,
      });
    } else if (status !== 401 && status !== 403) {
      context?.log("warn", "Authentication service answered neither 200 nor 401/403", fields);
    }
    return { ok: false };
  }
}

/** A 200's verdict with the profile its body carries (see {@linkcode profileOfBody}). */
function profileVerdict(
  body: string | undefined,
  target: HttpTarget,
  context?: AuthContext,
): HttpVerdict {
  const read = profileOfBody(body ?? "");
  if ("problem" in read) {
    context?.log("warn", "Authentication service sent a malformed profile: login refused", {
      url: redactUrl(target.url),
      field: "(profile)",
      problem: read.problem,
    });
    return { ok: false };
  }
  const name = read.profile?.username;
  return {
    ok: true,
    profile: read.profile,
    username: typeof name === "string" && name.trim() !== "" ? name : undefined,
  };
}
