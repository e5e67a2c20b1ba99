/**
 * The upload tap: digests fed with the bytes of an upload as they pass, so a
 * file's checksums are known the moment it is stored, without reading it
 * again and without copying the data (each digest reads the same buffer
 * before the connector writes it).
 *
 * @module
 */

import {
  type ChecksumAlgorithm,
  createDigest,
  type Digest,
  UPLOAD_CHECKSUMS,
} from "./algorithms.ts";

/**
 * Digests of one upload. Feed it every byte, in order ({@linkcode update},
 * or {@linkcode ChecksumTap.transform} for a stream); {@linkcode digests}
 * then finishes them.
 *
 * @example
 * ```ts
 * import { ChecksumTap } from "./tap.ts";
 * const tap = new ChecksumTap(["CRC32"]);
 * tap.update(new TextEncoder().encode("123456789"));
 * console.assert(tap.digests().CRC32 === "cbf43926");
 * ```
 */
export class ChecksumTap {
  readonly #digests: [ChecksumAlgorithm, Digest][];
  #result?: Partial<Record<ChecksumAlgorithm, string>>;

  /** Compute `algorithms` (default: {@linkcode UPLOAD_CHECKSUMS}). */
  constructor(algorithms: readonly ChecksumAlgorithm[] = UPLOAD_CHECKSUMS) {
    this.#digests = algorithms.map((algorithm) => [algorithm, createDigest(algorithm)]);
  }

  /** Add the next bytes (they are not kept). */
  update(bytes: Uint8Array): void {
    if (this.#result) throw new Error("The checksums are already finished");
    for (const [, digest] of this.#digests) digest.update(bytes);
  }

  /** The hex digests of everything fed so far, by algorithm; finishes the tap. */
  digests(): Partial<Record<ChecksumAlgorithm, string>> {
    this.#result ??= Object.fromEntries(
      this.#digests.map(([algorithm, digest]) => [algorithm, digest.hex()]),
    );
    return this.#result;
  }

  /** A pass-through stream that feeds the tap (for streams that are not byte streams). */
  transform(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, controller) => {
        this.update(chunk);
        controller.enqueue(chunk);
      },
    });
  }
}
