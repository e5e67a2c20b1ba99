/**
 * Building blocks for authenticators that ask an HTTP service, and the HTTP
 * Digest client the built-in {@linkcode DigestAuthenticator} uses. The
 * ready-made HTTP authenticators themselves (`BasicAuthenticator`,
 * `BearerAuthenticator`, `DigestAuthenticator`, `WebhookAuthenticator`) are
 * exported from the main entry point; import from here only to write another
 * one (subclass {@linkcode HttpAuthenticator}) or to reuse the Digest client.
 *
 * @example Answering a Digest challenge by hand
 * ```ts
 * import { chooseDigestChallenge, parseChallenges } from "@exftp/server/http";
 *
 * const challenge = chooseDigestChallenge(
 *   parseChallenges('Digest realm="files", nonce="abc", qop="auth", algorithm=SHA-256'),
 * );
 * console.assert("nonce" in challenge && challenge.algorithm === "SHA-256");
 * ```
 *
 * @module
 */

export {
  HttpAuthenticator,
  HttpClient,
  type HttpOutcome,
  type HttpRequest,
  type HttpTarget,
  type HttpVerdict,
  type UsernamePassword,
} from "./http.ts";
export {
  type AuthChallenge,
  chooseDigestChallenge,
  type DigestAlgorithm,
  type DigestChallenge,
  digestResponse,
  type DigestResponseInput,
  parseChallenges,
} from "./digest.ts";
export { type BearerToken } from "./bearer.ts";
export { PASSWORD_HASH_TYPES, type UsernamePasswordHash } from "./webhook.ts";
