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
 * What every upload of a whole file computes while it streams, unless the
 * `upload_checksums` setting (`uploadChecksums`) names others. Each runs on
 * the session's thread, so each costs upload CPU. Measured (Deno 2.9.6,
 * 2-core AMD EPYC with SHA extensions; bench/README.md, "Uploads: where the
 * CPU went"): CRC32 (`node:zlib`) about 50 GiB/s, SHA-256 and SHA-1 about
 * 2 GiB/s, MD5 and SHA-512 about 0.7. A whole upload costs about 0.6 CPU s
 * per GiB without digests; SHA-256 adds 0.5 (a one-stream STOR went from
 * about 950 to 600 MiB/s with it, 100 clients' uploads from 0.94 to 1.45 CPU
 * s/GiB), CRC32 nothing measurable. So only CRC32 is kept by default; HASH
 * of another algorithm reads the file once, which costs the same hashing
 * plus one read, and only for the files someone asks about.
 */
export const UPLOAD_CHECKSUMS: readonly ChecksumAlgorithm[] = ["CRC32"];

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
