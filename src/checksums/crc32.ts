/**
 * CRC-32 (the IEEE 802.3 polynomial of zip, gzip, PNG and `cksum -a crc32b`),
 * over `node:zlib`'s `crc32`.
 *
 * Why zlib's: it runs natively with the CPU's carry-less multiply, 49-59 GiB/s
 * here, where the JavaScript slicing-by-8 table this replaces ran at 1.3 GiB/s
 * alone and near 1 GiB/s beside SHA-256 in an upload (Deno 2.9.6, 2-core AMD
 * EPYC; bench/README.md, "Uploads: where the CPU went"). CRC-32 runs on every
 * upload, so it was about 1 CPU second per GiB uploaded.
 *
 * @module
 */

import { crc32 } from "node:zlib";

/**
 * A running CRC-32 over bytes given in any number of pieces.
 *
 * @example
 * ```ts
 * import { Crc32 } from "./crc32.ts";
 * const crc = new Crc32();
 * crc.update(new TextEncoder().encode("123456789"));
 * console.assert(crc.hex() === "cbf43926");
 * ```
 */
export class Crc32 {
  /** The CRC so far (zlib's running value: the CRC of nothing is 0). */
  #value = 0;

  /** Add `bytes`. */
  update(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#value = crc32(bytes, this.#value);
  }

  /** The CRC so far, as an unsigned 32-bit number. */
  value(): number {
    return this.#value >>> 0;
  }

  /** The CRC so far as eight lowercase hex digits (leading zeros kept). */
  hex(): string {
    return this.value().toString(16).padStart(8, "0");
  }
}
