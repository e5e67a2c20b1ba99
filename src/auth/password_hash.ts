/**
 * Salted PBKDF2-SHA256 password hashes in a self-describing text form,
 * `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`, made and checked
 * with WebCrypto.
 *
 * @module
 */

/** Iterations of new hashes: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;
/** Fewest iterations a stored hash may have. */
export const MIN_PBKDF2_ITERATIONS = 1_000;
/** Most iterations a stored hash may have (beyond, a login would take minutes). */
export const MAX_PBKDF2_ITERATIONS = 100_000_000;

const PREFIX = "pbkdf2-sha256";

/** The parts of a stored hash. */
export interface Pbkdf2Hash {
  /** PBKDF2 iterations. */
  iterations: number;
  /** The salt. */
  salt: Uint8Array<ArrayBuffer>;
  /** The derived key (its length is the key length). */
  hash: Uint8Array<ArrayBuffer>;
}

/** Options of {@linkcode hashPassword}. */
export interface HashPasswordOptions {
  /** PBKDF2 iterations. @default {600000} */
  iterations?: number;
  /** The salt. @default 16 random bytes */
  salt?: Uint8Array<ArrayBuffer>;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "");
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/=+$/, "").padEnd(Math.ceil(text.length / 4) * 4, "="));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Parse a stored hash.
 *
 * @throws {SyntaxError} saying what is wrong (never echoing the hash)
 */
export function parsePasswordHash(text: string): Pbkdf2Hash {
  const parts = text.split("$");
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    throw new SyntaxError(
      `must look like ${PREFIX}$<iterations>$<salt base64>$<hash base64> (made by exftp hash-password)`,
    );
  }
  const iterations = /^\d+$/.test(parts[1]) ? Number(parts[1]) : NaN;
  if (
    !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new SyntaxError(
      `iterations must be a whole number from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`,
    );
  }
  const salt = fromBase64(parts[2]);
  if (!salt || salt.length < 8) throw new SyntaxError("salt must be at least 8 bytes of base64");
  const hash = fromBase64(parts[3]);
  if (!hash || hash.length < 16 || hash.length > 64) {
    throw new SyntaxError("hash must be 16 to 64 bytes of base64");
  }
  return { iterations, salt, hash };
}

async function derive(
  password: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  bytes: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations },
      key,
      bytes * 8,
    ),
  );
}

/**
 * Hash a password for a users file.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "@exftp/server";
 * const stored = await hashPassword("correct horse", { iterations: 1000 });
 * console.assert(stored.startsWith("pbkdf2-sha256$1000$"));
 * console.assert(await verifyPassword("correct horse", stored));
 * ```
 *
 * @throws {RangeError} for an iteration count out of range
 */
export async function hashPassword(
  password: string,
  options: HashPasswordOptions = {},
): Promise<string> {
  const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  if (
    !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new RangeError(
      `Iterations must be a whole number from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}, got ${iterations}`,
    );
  }
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, iterations, 32);
  return `${PREFIX}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** Compare two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

/**
 * Whether a password matches a stored hash (parsed or text), compared in
 * constant time. A malformed text hash never matches.
 */
export async function verifyPassword(
  password: string,
  stored: string | Pbkdf2Hash,
): Promise<boolean> {
  let parsed: Pbkdf2Hash;
  try {
    parsed = typeof stored === "string" ? parsePasswordHash(stored) : stored;
  } catch {
    return false;
  }
  const derived = await derive(password, parsed.salt, parsed.iterations, parsed.hash.length);
  return constantTimeEqual(derived, parsed.hash);
}
