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
} from "./http.ts";
import type { AuthContext, Credentials } from "./types.ts";

/** The proof of identity of {@linkcode BearerAuthenticator}: the token. */
export interface BearerToken {
  /** The name the client gave (a label; the service may name another). */
  username: string;
  /** The token (the FTP password). */
  token: string;
}

// RFC 6750 b64token.
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Sends the FTP password as `Authorization: Bearer <token>` to `loginUrl`;
 * HTTP 200 lets the user in. The USER name is not checked by the service, so
 * it is only a label: when the service answers with a JSON object naming the
 * user (`{"username": "alice"}`), that name is the session's user name instead
 * (use this when storage is scoped by user name, or a client could pick any
 * folder). An empty USER becomes `anonymous`.
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
  /** PASS may come without a meaningful USER. */
  readonly usernameOptional = true;

  /**
   * Check the options.
   *
   * @throws {TypeError | RangeError} for a bad URL, method, timeout, TTL or hash type
   */
  constructor(options: HttpAuthenticatorOptions) {
    super("bearer", options);
  }

  /** Refuses what can't be a token (empty, spaces, other characters). */
  protected proofOf({ username, password }: Credentials): Promise<BearerToken | null> {
    if (!TOKEN.test(password)) return Promise.resolve(null);
    return Promise.resolve({ username: username.trim() || "anonymous", token: password });
  }

  /** One request with the Bearer header; yes on 200, with the name the service reports. */
  protected async ask(
    { username, token }: BearerToken,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict> {
    const outcome = await this.http.request({
      ...target,
      headers: { Authorization: `Bearer ${token}` },
      readBody: true,
      secrets: [token],
    }, context);
    if (!this.verdictOf(outcome, target, context) || !outcome.ok) return { ok: false };
    return { ok: true, username: reportedName(outcome.headers, outcome.body) ?? username };
  }
}

function reportedName(headers: Headers, body: string | undefined): string | undefined {
  if (!body || !/\bjson\b/i.test(headers.get("content-type") ?? "")) return undefined;
  try {
    const value = JSON.parse(body);
    const name = value?.username;
    return typeof name === "string" && name.trim() !== "" ? name : undefined;
  } catch {
    return undefined;
  }
}
