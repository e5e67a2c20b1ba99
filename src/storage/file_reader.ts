/**
 * The file connector's {@linkcode StorageReader}: RETR's fast path, reading
 * straight into the server's buffers with no stream per transfer.
 *
 * @module
 */

import { mapError } from "./file_io.ts";
import type { StorageReader } from "./types.ts";

/** A synchronous read slower than this switches the rest of the file to async reads. */
const SLOW_SYNC_READ_MS = 1;

/**
 * Reads an open file. An async read is a round trip through Deno's blocking
 * thread pool; measured (bench/README.md, "Downloads: CPU per GiB and
 * buffers") `readSync` cut the CPU per GiB of 300 concurrent downloads by
 * about a quarter. A blocking read on a slow disk would freeze every session,
 * so reads are synchronous only for a regular file and only while each takes
 * under 1 ms; after one slow read the rest of the file is read asynchronously
 * (the rule of `FileStorage.list`'s `lstatSync`). Something that is no regular
 * file (a FIFO can block forever) is always read asynchronously.
 */
export class FileReader implements StorageReader {
  readonly #file: Deno.FsFile;
  readonly #path: string;
  #sync: boolean;
  #closed = false;

  /** Read `file` (the virtual `path` names it in errors); `regular`: a regular file. */
  constructor(file: Deno.FsFile, path: string, regular: boolean) {
    this.#file = file;
    this.#path = path;
    this.#sync = regular;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (!this.#sync) return this.#readAsync(buffer);
    try {
      const started = performance.now();
      const n = this.#file.readSync(buffer);
      if (performance.now() - started > SLOW_SYNC_READ_MS) this.#sync = false;
      return Promise.resolve(n);
    } catch (error) {
      return Promise.reject(mapError(error, this.#path));
    }
  }

  async #readAsync(buffer: Uint8Array): Promise<number | null> {
    try {
      return await this.#file.read(buffer);
    } catch (error) {
      throw mapError(error, this.#path);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}
