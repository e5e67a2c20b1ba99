/**
 * The checksum algorithms exftp computes, by the names HASH uses, and one
 * streaming digest interface over `node:crypto` and {@linkcode Crc32}.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Crc32 } from "./crc32.ts";

/**
 * Every algorithm, by its name in the IANA "Hash Function Textual Names"
 * registry (draft-bryan-ftpext-hash §3.1), and CRC32 as ProFTPD names it.
 * SHA-256 comes first: it is the default selection.
 */
export const CHECKSUM_ALGORITHMS = ["SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"] as const;

/** One of {@linkcode CHECKSUM_ALGORITHMS}. */
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number];

/** HASH's algorithm until OPTS HASH changes it (the draft: none weaker than SHA-1). */
export const DEFAULT_CHECKSUM_ALGORITHM: ChecksumAlgorithm = "SHA-256";

/**
 * What every upload computes while it streams, on the session's thread, so
 * each costs upload speed. Measured one core at a time (Deno 2.9.6, 2-core
 * AMD EPYC with SHA extensions, idle): SHA-256 1905 MiB/s, SHA-1 2035, CRC32
 * 1719, MD5 667, SHA-512 699. SHA-256 and CRC32 together cap an upload at
 * about 900 MiB/s; adding SHA-1 and MD5 would cap it near 320 (see
 * bench/README.md). So these two are kept (HASH's default and XCRC); MD5,
 * SHA-1 and SHA-512 are computed when asked for.
 */
export const UPLOAD_CHECKSUMS: readonly ChecksumAlgorithm[] = ["SHA-256", "CRC32"];

const NODE_NAMES: Record<Exclude<ChecksumAlgorithm, "CRC32">, string> = {
  "SHA-256": "sha256",
  "SHA-512": "sha512",
  "SHA-1": "sha1",
  "MD5": "md5",
};

/** Other spellings clients send (case does not matter either). */
const ALIASES: Record<string, ChecksumAlgorithm> = {
  SHA256: "SHA-256",
  SHA512: "SHA-512",
  SHA1: "SHA-1",
  SHA: "SHA-1",
  "CRC-32": "CRC32",
};

/**
 * The algorithm a client named (`sha-256`, `SHA256`, `crc32`…), or undefined
 * when it is not one of {@linkcode CHECKSUM_ALGORITHMS}.
 *
 * @example
 * ```ts
 * import { parseChecksumAlgorithm } from "./algorithms.ts";
 * console.assert(parseChecksumAlgorithm("sha256") === "SHA-256");
 * console.assert(parseChecksumAlgorithm("CRC-37") === undefined);
 * ```
 */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const upper = name.trim().toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)
    ? upper as ChecksumAlgorithm
    : ALIASES[upper];
}

/** A digest fed in pieces. */
export interface Digest {
  /** Add `bytes` (not kept: the caller may reuse the buffer at once). */
  update(bytes: Uint8Array): void;
  /** The digest as lowercase hex; call once, at the end. */
  hex(): string;
}

/** A fresh streaming digest of `algorithm`. */
export function createDigest(algorithm: ChecksumAlgorithm): Digest {
  if (algorithm === "CRC32") return new Crc32();
  const hash = createHash(NODE_NAMES[algorithm]);
  return {
    update: (bytes) => void hash.update(bytes),
    hex: () => hash.digest("hex"),
  };
}
