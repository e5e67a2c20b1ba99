/**
 * A webhook asked with the user name and a hash of the password as query
 * parameters.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  HttpAuthenticator,
  type HttpAuthenticatorOptions,
  type HttpTarget,
  type HttpVerdict,
  toHex,
} from "./http.ts";
import type { AuthContext, Credentials } from "./types.ts";

/** Hash functions a webhook may ask for. */
export const PASSWORD_HASH_TYPES = ["md5", "sha1", "sha256", "sha384", "sha512"] as const;
/** A hash function of {@linkcode PASSWORD_HASH_TYPES}. */
export type PasswordHashType = typeof PASSWORD_HASH_TYPES[number];

const WEB_CRYPTO_NAMES: Record<Exclude<PasswordHashType, "md5">, string> = {
  sha1: "SHA-1",
  sha256: "SHA-256",
  sha384: "SHA-384",
  sha512: "SHA-512",
};

/** Lower-case hex digest of the UTF-8 password (MD5 via node:crypto: WebCrypto has none). */
export async function hashPasswordHex(password: string, type: PasswordHashType): Promise<string> {
  if (type === "md5") return createHash("md5").update(password, "utf8").digest("hex");
  const name = WEB_CRYPTO_NAMES[type];
  if (!name) throw new TypeError(`Unknown password hash type ${JSON.stringify(type)}`);
  return toHex(await crypto.subtle.digest(name, new TextEncoder().encode(password)));
}

/** Options of {@linkcode WebhookAuthenticator}. */
export interface WebhookAuthenticatorOptions extends HttpAuthenticatorOptions {
  /** How the password is hashed for the `password_hash` parameter. @default {"sha256"} */
  passwordHashType?: PasswordHashType;
}

/** The proof of identity of {@linkcode WebhookAuthenticator}: all the webhook ever sees. */
export interface UsernamePasswordHash {
  /** The user name. */
  username: string;
  /** Lower-case hex digest of the password. */
  passwordHash: string;
}

/**
 * Calls `loginUrl?username=<name>&password_hash=<hex digest>` (added to any
 * query the URL has) with `loginMethod`; HTTP 200 lets the user in. The
 * password itself never leaves the server, and only its hash is kept for
 * re-validation.
 *
 * @example
 * ```ts
 * import { WebhookAuthenticator } from "@exftp/server";
 * const authenticator = new WebhookAuthenticator({
 *   loginUrl: "https://hooks.example.com/ftp/check",
 *   loginMethod: "POST",
 *   passwordHashType: "sha512",
 * });
 * ```
 */
export class WebhookAuthenticator extends HttpAuthenticator<UsernamePasswordHash> {
  /** The hash sent as `password_hash`. */
  readonly passwordHashType: PasswordHashType;

  /**
   * Check the options.
   *
   * @throws {TypeError | RangeError} for a bad URL, method, timeout, TTL or hash type
   */
  constructor(options: WebhookAuthenticatorOptions) {
    super("webhook", options);
    const type = options.passwordHashType ?? "sha256";
    if (!PASSWORD_HASH_TYPES.includes(type)) {
      throw new TypeError(
        `Password hash type must be one of ${PASSWORD_HASH_TYPES.join(", ")}, got ${
          JSON.stringify(type)
        }`,
      );
    }
    this.passwordHashType = type;
  }

  /** The name and the password's hash; an empty name is refused without asking. */
  protected async proofOf(
    { username, password }: Credentials,
  ): Promise<UsernamePasswordHash | null> {
    if (username === "") return null;
    return { username, passwordHash: await hashPasswordHex(password, this.passwordHashType) };
  }

  /** One request with the two query parameters; yes on 200. */
  protected async ask(
    { username, passwordHash }: UsernamePasswordHash,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict> {
    const url = new URL(target.url);
    url.searchParams.set("username", username);
    url.searchParams.set("password_hash", passwordHash);
    const outcome = await this.http.request(
      { url, method: target.method, secrets: [passwordHash], readBody: true },
      context,
    );
    return this.verdictOf(outcome, target, context);
  }
}
