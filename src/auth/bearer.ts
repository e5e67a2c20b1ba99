/**
 * Bearer-token authentication against a service (RFC 6750): the FTP
 * password is the token.
 *
 * @module
 */

import {
  HttpAuthenticator,
  type HttpAuthenticatorOptions,
  type HttpTarget,
  type HttpVerdict,
  redactUrl,
} from "./http.ts";
import type { AuthContext, Credentials } from "./types.ts";

/** The proof of identity of {@linkcode BearerAuthenticator}: the token, and the name claimed. */
export interface BearerToken {
  /** The USER the client gave (empty when it gave none); sent along as `X-FTP-Username`. */
  username: string;
  /** The token (the FTP password). */
  token: string;
}

// RFC 6750 b64token.
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The request header carrying the claimed FTP user name (percent-encoded UTF-8). */
export const BEARER_USERNAME_HEADER = "X-FTP-Username";

/** Options of {@linkcode BearerAuthenticator}. */
export interface BearerAuthenticatorOptions extends HttpAuthenticatorOptions {
  /**
   * The service checks the `X-FTP-Username` it is sent against the token and
   * refuses a pair that doesn't match, so a 200 that names no user accepts the
   * USER sent. Leave it off for a service that checks the token only: then a
   * 200 must name the user (JSON `username`, or `X-FTP-Username` echoed back),
   * or the login is refused, so that no token opens another user's folder.
   * @default {false}
   */
  serviceChecksUsername?: boolean;
}

/**
 * Sends the FTP password as `Authorization: Bearer <token>` to `loginUrl`,
 * with the client's USER (when it gave one) as `X-FTP-Username`, percent-encoded
 * like a URL component (`alice` stays `alice`). Only HTTP 200 lets the user
 * in, and the session's user is always one the service vouched for:
 *
 * - a JSON answer (`Content-Type: application/json`) naming the user,
 *   `{"username": "alice"}`, makes that the session's user, whatever USER said;
 * - an answer that echoes the `X-FTP-Username` header it was sent accepts
 *   that USER (the service saw the pair and confirmed it);
 * - an answer naming no user is a refusal, logged: a service that checks the
 *   token only would otherwise let any token holder claim any name, and with
 *   storage scoped by user name (`prefix: "{username}"`) open any user's
 *   folder. A service that does check the pair it is sent (refusing a name
 *   that isn't the token's) may say so with
 *   {@linkcode BearerAuthenticatorOptions.serviceChecksUsername}; then a 200
 *   naming no one accepts the USER sent;
 * - no USER (PASS alone, see {@linkcode usernameOptional}) and no name in the
 *   answer is a refusal, logged.
 *
 * @example
 * ```ts
 * import { BearerAuthenticator } from "@exftp/server";
 * const authenticator = new BearerAuthenticator({
 *   loginUrl: "https://api.example.com/me",
 *   timeoutMs: 5_000,
 * });
 * ```
 */
export class BearerAuthenticator extends HttpAuthenticator<BearerToken> {
  /** PASS may come without USER: the service names the user. */
  readonly usernameOptional = true;
  readonly #serviceChecksUsername: boolean;

  /**
   * Check the options.
   *
   * @throws {TypeError | RangeError} for a bad URL, method, timeout or TTL
   */
  constructor(options: BearerAuthenticatorOptions) {
    super("bearer", options);
    this.#serviceChecksUsername = options.serviceChecksUsername ?? false;
  }

  /** Refuses what can't be a token (empty, spaces, other characters). */
  protected proofOf({ username, password }: Credentials): Promise<BearerToken | null> {
    if (!TOKEN.test(password)) return Promise.resolve(null);
    return Promise.resolve({ username: username.trim(), token: password });
  }

  /** One request with the Bearer header; yes on 200, with the name the service vouches for. */
  protected async ask(
    { username, token }: BearerToken,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
    if (username !== "") headers[BEARER_USERNAME_HEADER] = encodeURIComponent(username);
    const outcome = await this.http.request({
      ...target,
      headers,
      readBody: true,
      secrets: [token],
    }, context);
    const verdict = this.verdictOf(outcome, target, context);
    if (!verdict.ok || !outcome.ok) return verdict;
    // The name the JSON profile gives (the shared verdict read it).
    const reported = verdict.username;
    if (reported !== undefined) {
      if (username !== "" && reported !== username) {
        context?.log("info", "Token service named another user than USER; using its name", {
          claimed: username,
          username: reported,
        });
      }
      return verdict;
    }
    if (username !== "") {
      const echoed = outcome.headers.get(BEARER_USERNAME_HEADER);
      if (echoed !== null && safeDecode(echoed) === username) return { ...verdict, username };
      if (this.#serviceChecksUsername) return { ...verdict, username };
    }
    context?.log("warn", "Token accepted but no user named: login refused", {
      url: redactUrl(target.url),
      hint: username === ""
        ? 'send USER, or have the service answer JSON {"username": …}'
        : `have the service answer JSON {"username": …} or echo ${BEARER_USERNAME_HEADER}, ` +
          "or set service_checks_username if it refuses a name that isn't the token's",
    });
    return { ok: false };
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
