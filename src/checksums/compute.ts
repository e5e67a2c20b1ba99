/**
 * Checksums of stored files: the connector's stored value when it has one
 * (see `StorageConnector.checksum`), else computed by streaming the file once.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { StorageConnector } from "../storage/types.ts";
import { type ChecksumAlgorithm, createDigest } from "./algorithms.ts";

/** The size of each read while a file is hashed. */
const READ_BUFFER_BYTES = 1 << 20;

/** Options of {@linkcode streamChecksum}. */
export interface StreamChecksumOptions {
  /** First byte. @default {0} */
  start?: number;
  /** Byte after the last one; the end of the file when unset. */
  end?: number;
  /** Stops the reading (ABOR, the client gone). */
  signal?: AbortSignal;
  /** Told of every piece read (STAT shows the progress). */
  onProgress?: (bytes: number) => void;
}

/**
 * The checksum of a stored file's bytes from `start` to `end`, read once
 * from the connector. Rejects with the signal's reason when aborted.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { streamChecksum } from "./compute.ts";
 * const storage = new MemoryStorage();
 * await storage.write("/a.txt", new Blob(["123456789"]).stream());
 * console.assert(await streamChecksum(storage, "/a.txt", "CRC32") === "cbf43926");
 * ```
 */
export async function streamChecksum(
  storage: StorageConnector,
  path: string,
  algorithm: ChecksumAlgorithm,
  options: StreamChecksumOptions = {},
): Promise<string> {
  const { start = 0, end, signal, onProgress } = options;
  signal?.throwIfAborted();
  const digest = createDigest(algorithm);
  const source = await storage.read(path, { offset: start, signal });
  let byob: ReadableStreamBYOBReader | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    reader = source.getReader();
  }
  const active = byob ?? reader!;
  const onAbort = () => void active.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let left = end === undefined ? Infinity : end - start;
  let buffer = new Uint8Array(byob ? READ_BUFFER_BYTES : 0);
  let finished = false;
  try {
    while (left > 0) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = byob ? await byob.read(buffer) : await reader!.read();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof StorageError) throw error;
        throw new StorageError("io", `Reading "${path}" failed`, { cause: error });
      }
      signal?.throwIfAborted();
      if (result.done) {
        finished = true;
        break;
      }
      const piece = result.value.length > left ? result.value.subarray(0, left) : result.value;
      digest.update(piece);
      left -= piece.length;
      onProgress?.(piece.length);
      if (byob) buffer = new Uint8Array(result.value.buffer as ArrayBuffer);
    }
    return digest.hex();
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!finished) await active.cancel().catch(() => {});
    active.releaseLock();
  }
}
