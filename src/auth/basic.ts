/**
 * HTTP Basic authentication against a service (RFC 7617).
 *
 * @module
 */

import {
  base64Utf8,
  HttpAuthenticator,
  type HttpAuthenticatorOptions,
  type HttpTarget,
  type HttpVerdict,
  type UsernamePassword,
} from "./http.ts";
import type { AuthContext, Credentials } from "./types.ts";

/**
 * Sends `Authorization: Basic base64(user:password)` to `loginUrl` and lets
 * the user in only on HTTP 200. A user name containing `:` (which Basic can't
 * carry) or an empty one is refused without asking.
 *
 * @example
 * ```ts
 * import { BasicAuthenticator } from "@exftp/server";
 * const authenticator = new BasicAuthenticator({
 *   loginUrl: "https://auth.example.com/ftp-login",
 *   // Re-ask at most once a minute per session whether the user is still valid:
 *   authenticatedUrl: "https://auth.example.com/ftp-login",
 *   authenticatedTtlMs: 60_000,
 * });
 * ```
 */
export class BasicAuthenticator extends HttpAuthenticator<UsernamePassword> {
  /**
   * Check the options.
   *
   * @throws {TypeError | RangeError} for a bad URL, method, timeout or TTL
   */
  constructor(options: HttpAuthenticatorOptions) {
    super("basic", options);
  }

  /** Refuses names Basic can't carry; otherwise the credentials themselves. */
  protected proofOf({ username, password }: Credentials): Promise<UsernamePassword | null> {
    if (username === "" || username.includes(":")) return Promise.resolve(null);
    return Promise.resolve({ username, password });
  }

  /** One request with the Basic header; yes on 200. */
  protected async ask(
    { username, password }: UsernamePassword,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict> {
    const outcome = await this.http.request({
      ...target,
      headers: { Authorization: `Basic ${base64Utf8(`${username}:${password}`)}` },
      secrets: [password],
      readBody: true, // the profile
    }, context);
    return this.verdictOf(outcome, target, context);
  }
}
