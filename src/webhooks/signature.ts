/**
 * The signature of exftp's webhook requests, as Stripe signs its own:
 * `X-Exftp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 * The timestamp is part of what is signed, so a captured request can't be
 * replayed later than the receiver's tolerance; the body is signed byte for
 * byte, so verify it before parsing it.
 *
 * @module
 */

import { toHex } from "../http_url.ts";

/** The header that carries the signature. */
export const SIGNATURE_HEADER = "X-Exftp-Signature";

const encoder = new TextEncoder();

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** Lower-case hex HMAC-SHA256 of `timestamp + "." + body` under `secret`. */
export async function signatureOf(
  secret: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const key = await hmacKey(secret);
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
}

/**
 * The `X-Exftp-Signature` value for `body` sent at `timestamp` (unix seconds).
 *
 * @example
 * ```ts
 * import { signWebhook } from "@exftp/server";
 * const header = await signWebhook("secret", '{"type":"upload"}', 1700000000);
 * console.assert(header.startsWith("t=1700000000,v1="));
 * ```
 */
export async function signWebhook(
  secret: string,
  body: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  return `t=${timestamp},v1=${await signatureOf(secret, timestamp, body)}`;
}

/** Options of {@linkcode verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** Largest difference between the signature's time and now, in seconds. @default {300} */
  toleranceS?: number;
  /** Now, in unix seconds (tests). @default the clock */
  now?: number;
}

/**
 * Whether `header` (the `X-Exftp-Signature` value) signs `body` (the raw
 * request body, unparsed) with `secret`, within the time tolerance.
 *
 * @example
 * ```ts
 * import { signWebhook, verifyWebhook } from "@exftp/server";
 * const body = '{"type":"upload"}';
 * const header = await signWebhook("secret", body);
 * console.assert(await verifyWebhook("secret", header, body));
 * console.assert(!(await verifyWebhook("other", header, body)));
 * ```
 */
export async function verifyWebhook(
  secret: string,
  header: string | null,
  body: string,
  options: VerifyWebhookOptions = {},
): Promise<boolean> {
  if (!header) return false;
  const parts = header.split(",").map((part) => part.trim().split("="));
  const timestamp = Number(parts.find(([name]) => name === "t")?.[1]);
  const signatures = parts.filter(([name]) => name === "v1").map(([, value]) => value ?? "");
  if (!Number.isInteger(timestamp) || signatures.length === 0) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceS ?? 300)) return false;
  const expected = await signatureOf(secret, timestamp, body);
  return signatures.some((signature) => constantTimeEqual(signature, expected));
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
