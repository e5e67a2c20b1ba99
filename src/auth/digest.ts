/**
 * HTTP Digest Access Authentication against a service, as a client
 * (RFC 7616, with the RFC 2617 forms it keeps): parsing `WWW-Authenticate`,
 * choosing a challenge, and computing the `Authorization` answer.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  HttpAuthenticator,
  type HttpAuthenticatorOptions,
  type HttpTarget,
  type HttpVerdict,
  redactUrl,
  toHex,
  type UsernamePassword,
} from "./http.ts";
import type { AuthContext, Credentials } from "./types.ts";

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** The scheme as sent (compare case-insensitively). */
  scheme: string;
  /** The parameters, names lower-cased, values unquoted. */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when used instead of parameters. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_CHAR = /[0-9A-Za-z\-._~+/]/;
const WHITESPACE = /[ \t\r\n]/;

/**
 * Parse a `WWW-Authenticate` header value, which may hold several challenges
 * (several headers arrive joined with `", "`). Handles quoted and unquoted
 * parameter values, escapes and commas inside quotes, and token68 challenges.
 *
 * @example
 * ```ts
 * import { parseChallenges } from "@exftp/server/http";
 * const [basic, digest] = parseChallenges('Basic realm="a", Digest realm="b, c", nonce=xyz');
 * console.assert(digest.params.realm === "b, c" && digest.params.nonce === "xyz");
 * ```
 *
 * @throws {SyntaxError} when the value does not follow RFC 7235's grammar
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let current: AuthChallenge | undefined;
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at character ${i + 1} of the WWW-Authenticate header`);
  };
  const skipWhitespace = () => {
    while (i < header.length && WHITESPACE.test(header[i])) i++;
  };
  const readWhile = (pattern: RegExp) => {
    const start = i;
    while (i < header.length && pattern.test(header[i])) i++;
    return header.slice(start, i);
  };
  const atEndOfItem = () => {
    skipWhitespace();
    return i >= header.length || header[i] === ",";
  };

  while (true) {
    skipWhitespace();
    if (i >= header.length) break;
    if (header[i] === ",") {
      i++;
      continue;
    }
    const tokenStart = i;
    const token = readWhile(TCHAR);
    if (token === "") fail(`Unexpected ${JSON.stringify(header[i])}`);
    skipWhitespace();
    if (header[i] !== "=") {
      // A token not followed by "=" starts a new challenge.
      current = { scheme: token, params: {} };
      challenges.push(current);
      const afterScheme = i;
      if (afterScheme === tokenStart + token.length) continue; // followed by "," or the end
      const token68 = readWhile(TOKEN68_CHAR);
      if (token68 !== "") {
        readWhile(/=/);
        if (atEndOfItem()) {
          current.token68 = header.slice(afterScheme, i).trim();
          continue;
        }
      }
      i = afterScheme; // parameters follow
      continue;
    }
    // token "=" value
    if (!current) fail("A parameter before any scheme");
    i++; // "="
    skipWhitespace();
    let value: string;
    if (header[i] === '"') {
      i++;
      value = "";
      while (true) {
        if (i >= header.length) fail("Unterminated quoted string");
        const char = header[i++];
        if (char === '"') break;
        if (char === "\\") {
          if (i >= header.length) fail("Unterminated quoted string");
          value += header[i++];
        } else {
          value += char;
        }
      }
    } else {
      value = readWhile(TCHAR);
      if (value === "") fail("A parameter without a value");
    }
    const name = token.toLowerCase();
    if (Object.hasOwn(current!.params, name)) fail(`Parameter ${JSON.stringify(token)} repeated`);
    if (current!.token68 !== undefined) fail("Parameters after a token68");
    current!.params[name] = value;
    if (!atEndOfItem()) fail(`Unexpected ${JSON.stringify(header[i])}`);
  }
  return challenges;
}

/** The Digest algorithms this client answers. */
export type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  "md5": "MD5",
  "md5-sess": "MD5-sess",
  "sha-256": "SHA-256",
  "sha-256-sess": "SHA-256-sess",
};

/** A usable Digest challenge, with what the answer will use. */
export interface DigestChallenge {
  /** The algorithm (MD5 when the challenge names none). */
  algorithm: DigestAlgorithm;
  /** The `algorithm` token exactly as the server sent it, echoed back; absent when it sent none. */
  algorithmToken?: string;
  /** The protection space. */
  realm: string;
  /** The server's nonce. */
  nonce: string;
  /** Echoed back only when given. */
  opaque?: string;
  /** The quality of protection chosen; absent for the legacy (RFC 2069) form. */
  qop?: "auth" | "auth-int";
  /** The server asks for the user name to be hashed (RFC 7616 §3.4.4). */
  userhash: boolean;
}

/**
 * Pick the best Digest challenge this client supports: SHA-256 (plain or
 * `-sess`) before MD5, then the server's order; `qop=auth` when offered
 * (`auth-int` otherwise: the requests have no body), the legacy form when
 * there is no qop.
 *
 * @returns the challenge, or a sentence saying why none is usable
 */
export function chooseDigestChallenge(
  challenges: AuthChallenge[],
): DigestChallenge | { problem: string } {
  const problems: string[] = [];
  let best: DigestChallenge | undefined;
  const strength = (algorithm: DigestAlgorithm) => algorithm.startsWith("SHA-256") ? 2 : 1;
  for (const { scheme, params } of challenges) {
    if (scheme.toLowerCase() !== "digest") continue;
    const algorithm = ALGORITHMS[(params.algorithm ?? "MD5").toLowerCase()];
    if (!algorithm) {
      problems.push(`unsupported algorithm ${JSON.stringify(params.algorithm)}`);
      continue;
    }
    if (params.realm === undefined || !params.nonce) {
      problems.push("a Digest challenge without realm or nonce");
      continue;
    }
    let qop: DigestChallenge["qop"];
    if (params.qop !== undefined) {
      const offered = params.qop.split(",").map((item) => item.trim().toLowerCase());
      qop = offered.includes("auth")
        ? "auth"
        : offered.includes("auth-int")
        ? "auth-int"
        : undefined;
      if (!qop) {
        problems.push(`unsupported qop ${JSON.stringify(params.qop)}`);
        continue;
      }
    }
    const candidate: DigestChallenge = {
      algorithm,
      algorithmToken: params.algorithm,
      realm: params.realm,
      nonce: params.nonce,
      opaque: params.opaque,
      qop,
      userhash: params.userhash?.toLowerCase() === "true",
    };
    if (!best || strength(candidate.algorithm) > strength(best.algorithm)) best = candidate;
  }
  if (best) return best;
  if (problems.length === 0) return { problem: "no Digest challenge" };
  return { problem: problems.join("; ") };
}

/** Hex digest of UTF-8 text with the algorithm's hash (MD5 via node:crypto). */
async function hashHex(algorithm: DigestAlgorithm, text: string): Promise<string> {
  if (algorithm.startsWith("MD5")) return createHash("md5").update(text, "utf8").digest("hex");
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Everything the `response` value depends on. */
export interface DigestResponseInput {
  /** The hash algorithm. */
  algorithm: DigestAlgorithm;
  /** The user name (not hashed, even with userhash). */
  username: string;
  /** The password. */
  password: string;
  /** The challenge's realm. */
  realm: string;
  /** The challenge's nonce. */
  nonce: string;
  /** The client nonce (needed with qop or `-sess`). */
  cnonce?: string;
  /** The nonce count, eight hex digits. */
  nc?: string;
  /** The quality of protection; absent for the legacy form. */
  qop?: "auth" | "auth-int";
  /** The request method. */
  method: string;
  /** The request URI as sent in `uri` (path and query). */
  uri: string;
  /** The request body, for `auth-int`. @default {""} */
  body?: string;
}

/**
 * The `response` value of a Digest answer (RFC 7616 §3.4.1, RFC 2617 §3.2.2).
 *
 * @example
 * ```ts
 * import { digestResponse } from "@exftp/server/http";
 * // RFC 2617 §3.5
 * const response = await digestResponse({
 *   algorithm: "MD5", username: "Mufasa", password: "Circle Of Life",
 *   realm: "testrealm@host.com", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
 *   cnonce: "0a4f113b", nc: "00000001", qop: "auth", method: "GET", uri: "/dir/index.html",
 * });
 * console.assert(response === "6629fae49393a05397450978507c4ef1");
 * ```
 */
export async function digestResponse(input: DigestResponseInput): Promise<string> {
  const { algorithm, username, password, realm, nonce, cnonce = "", nc = "", qop } = input;
  let ha1 = await hashHex(algorithm, `${username}:${realm}:${password}`);
  if (algorithm.endsWith("-sess")) ha1 = await hashHex(algorithm, `${ha1}:${nonce}:${cnonce}`);
  const a2 = qop === "auth-int"
    ? `${input.method}:${input.uri}:${await hashHex(algorithm, input.body ?? "")}`
    : `${input.method}:${input.uri}`;
  const ha2 = await hashHex(algorithm, a2);
  return qop
    ? await hashHex(algorithm, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
    : await hashHex(algorithm, `${ha1}:${nonce}:${ha2}`);
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

/** A fresh client nonce: 16 random bytes, hex. */
export function newCnonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** What {@linkcode digestAuthorization} needs besides the challenge. */
export interface DigestRequest {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
  /** The request method. */
  method: string;
  /** Path and query of the request URL. */
  uri: string;
  /** The client nonce. @default a fresh random one */
  cnonce?: string;
}

/**
 * The `Authorization` header value answering a challenge, with `nc=00000001`
 * (each login gets a fresh challenge) and `opaque` only when the challenge
 * had one.
 */
export async function digestAuthorization(
  challenge: DigestChallenge,
  request: DigestRequest,
): Promise<string> {
  const { algorithm, realm, nonce, qop } = challenge;
  const needsCnonce = qop !== undefined || algorithm.endsWith("-sess");
  const cnonce = needsCnonce ? request.cnonce ?? newCnonce() : undefined;
  const nc = qop ? "00000001" : undefined;
  const response = await digestResponse({
    algorithm,
    username: request.username,
    password: request.password,
    realm,
    nonce,
    cnonce,
    nc,
    qop,
    method: request.method,
    uri: request.uri,
  });
  const parts: string[] = [];
  if (challenge.userhash) {
    parts.push(`username=${quote(await hashHex(algorithm, `${request.username}:${realm}`))}`);
  } else if (/^[\x20-\x7e]*$/.test(request.username)) {
    parts.push(`username=${quote(request.username)}`);
  } else {
    // RFC 7616 §3.4.4: a name outside ASCII goes in username* (RFC 5987).
    parts.push(`username*=UTF-8''${encodeRfc5987(request.username)}`);
  }
  parts.push(`realm=${quote(realm)}`, `uri=${quote(request.uri)}`);
  if (challenge.algorithmToken !== undefined) parts.push(`algorithm=${challenge.algorithmToken}`);
  parts.push(`nonce=${quote(nonce)}`);
  if (nc) parts.push(`nc=${nc}`);
  if (cnonce !== undefined) parts.push(`cnonce=${quote(cnonce)}`);
  if (qop) parts.push(`qop=${qop}`);
  parts.push(`response=${quote(response)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (challenge.userhash) parts.push("userhash=true");
  return `Digest ${parts.join(", ")}`;
}

function encodeRfc5987(text: string): string {
  return encodeURIComponent(text).replace(
    /['()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Logs in with HTTP Digest (RFC 7616) against `loginUrl`: a first request
 * gets the 401 challenge, a second answers it; HTTP 200 lets the user in.
 * Answers MD5, MD5-sess, SHA-256 and SHA-256-sess with `qop=auth` or the
 * legacy form, echoing `opaque` when given. An unsupported or malformed
 * challenge is a refusal with a log line.
 *
 * @example
 * ```ts
 * import { DigestAuthenticator } from "@exftp/server";
 * const authenticator = new DigestAuthenticator({
 *   loginUrl: "https://auth.example.com/digest?service=ftp",
 * });
 * ```
 */
export class DigestAuthenticator extends HttpAuthenticator<UsernamePassword> {
  /**
   * Check the options.
   *
   * @throws {TypeError | RangeError} for a bad URL, method, timeout or TTL
   */
  constructor(options: HttpAuthenticatorOptions) {
    super("digest", options);
  }

  /** The credentials themselves; an empty name is refused without asking. */
  protected proofOf({ username, password }: Credentials): Promise<UsernamePassword | null> {
    if (username === "") return Promise.resolve(null);
    return Promise.resolve({ username, password });
  }

  /** Challenge, then answer; yes on 200. */
  protected async ask(
    { username, password }: UsernamePassword,
    target: HttpTarget,
    context?: AuthContext,
  ): Promise<HttpVerdict> {
    const secrets = [password];
    // Neither request follows a redirect: a 3xx to the challenge is a refusal
    // (logged with its Location), and the answer goes to the URL asked only.
    const first = await this.http.request({ ...target, secrets }, context);
    if (!first.ok) return { ok: false, unavailable: first.reason };
    const log = (problem: string, fields: Record<string, unknown> = {}) =>
      context?.log("warn", `Digest login impossible: ${problem}`, {
        url: redactUrl(target.url),
        method: target.method,
        ...fields,
      });
    if (first.status !== 401) {
      const verdict = this.verdictOf(first, target, context);
      if (verdict.unavailable !== undefined) return verdict;
      if (first.status === 200 || first.status === 403) {
        log("the service did not answer 401 to a request without credentials", {
          status: first.status,
        });
      }
      return { ok: false };
    }
    let challenge;
    try {
      challenge = chooseDigestChallenge(
        parseChallenges(first.headers.get("www-authenticate") ?? ""),
      );
    } catch (error) {
      log(`malformed challenge (${(error as Error).message})`);
      return { ok: false };
    }
    if ("problem" in challenge) {
      log(challenge.problem);
      return { ok: false };
    }
    const authorization = await digestAuthorization(challenge, {
      username,
      password,
      method: target.method,
      uri: target.url.pathname + target.url.search,
    });
    const headers: Record<string, string> = { Authorization: authorization };
    // Some services tie the nonce to a cookie set with the challenge (httpbin's
    // require-cookie): send those cookies back, as a browser would.
    const cookies = first.headers.getSetCookie().map((cookie) => cookie.split(";")[0].trim())
      .filter((pair) => /^[^=\s]+=/.test(pair));
    if (cookies.length > 0) headers.Cookie = cookies.join("; ");
    const second = await this.http.request(
      { ...target, headers, secrets, readBody: true },
      context,
    );
    return this.verdictOf(second, target, context);
  }
}
