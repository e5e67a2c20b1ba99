/**
 * Moving bytes between storage streams and data connections, counting them
 * for STAT and the stall watchdog.
 *
 * @module
 */

import { DataConnectionLost, StorageError } from "../errors.ts";
import type { StorageReader } from "../storage/types.ts";
import { sendBuffers } from "./buffer_pool.ts";
import type { ByteConnection } from "./connection.ts";
import { writeAll } from "./connection.ts";
import type { TransferProgress } from "./transfer.ts";

/**
 * Send a storage stream to the data connection. Read failures are storage
 * errors (451); write failures are connection errors (426).
 */
export async function sendStream(
  source: ReadableStream<Uint8Array>,
  connection: ByteConnection,
  signal: AbortSignal,
  progress: TransferProgress,
): Promise<number> {
  // A byte stream is read into the shared send buffers, one per chunk
  // (buffer_pool.ts): measured ~2.5x faster than taking its default 64 KiB
  // chunks, and with 300 downloads at once ~20 % less CPU per GiB and 8 MiB
  // of buffers instead of a fresh 1 MiB each.
  let byob: ReadableStreamBYOBReader | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    reader = source.getReader();
  }
  let finished = false;
  // ABOR or a stall must not wait for a storage read that hangs: cancelling
  // ends the pending read at once.
  const onAbort = () => void (byob ?? reader!).cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  const waits = new AbortableWaits(signal);
  try {
    while (!signal.aborted) {
      const buffer = byob ? await takeBuffer(waits, sendBuffers.take()) : undefined;
      if (buffer === ABORTED) break;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        // The read owns the buffer now (it is transferred): it comes back as
        // result.value, or never (cancelled: the source may still fill it).
        result = buffer ? await byob!.read(buffer) : await reader!.read();
      } catch (error) {
        if (buffer) sendBuffers.forget();
        if (error instanceof StorageError) throw error;
        throw new StorageError("io", "Reading from storage failed", { cause: error });
      }
      const back = buffer && result.value
        ? new Uint8Array(result.value.buffer as ArrayBuffer)
        : undefined;
      if (buffer && !back) sendBuffers.forget();
      try {
        if (result.done) {
          finished = true;
          break;
        }
        await writeAll(connection, result.value);
        progress.add(result.value.length);
      } finally {
        if (back) sendBuffers.give(back);
      }
    }
    return progress.bytes;
  } finally {
    signal.removeEventListener("abort", onAbort);
    waits.dispose();
    const active = byob ?? reader!;
    if (!finished) await active.cancel().catch(() => {});
    active.releaseLock();
  }
}

/**
 * Send a file opened with `StorageConnector.openReader` to the data
 * connection (RETR's fast path: no stream, the shared send buffers). Errors
 * as {@linkcode sendStream}. An abort ends it at once, even with a read
 * pending; the caller closes `file`.
 */
export async function sendFile(
  file: StorageReader,
  connection: ByteConnection,
  signal: AbortSignal,
  progress: TransferProgress,
): Promise<number> {
  const waits = new AbortableWaits(signal);
  try {
    while (!signal.aborted) {
      const taken = sendBuffers.take();
      const buffer = taken instanceof Uint8Array ? taken : await takeBuffer(waits, taken);
      if (buffer === ABORTED) break;
      let n: number | null | typeof ABORTED;
      try {
        n = await waits.wait(file.read(buffer));
      } catch (error) {
        sendBuffers.give(buffer); // the read has settled
        if (error instanceof StorageError) throw error;
        throw new StorageError("io", "Reading from storage failed", { cause: error });
      }
      if (n === ABORTED) {
        sendBuffers.forget(); // a pending read may still fill it
        break;
      }
      try {
        if (n === null) break;
        await writeAll(connection, buffer.subarray(0, n));
        progress.add(n);
      } finally {
        sendBuffers.give(buffer);
      }
    }
    return progress.bytes;
  } finally {
    waits.dispose();
  }
}

const ABORTED = Symbol("aborted");

/**
 * Waits of one transfer that end with ABORTED as soon as its signal fires.
 * One abort listener for the whole transfer and a fresh promise per wait:
 * racing every chunk against one long-lived "aborted" promise would add a
 * reaction to that promise per chunk, kept until the transfer ends.
 */
class AbortableWaits {
  readonly #signal: AbortSignal;
  #wake: ((value: typeof ABORTED) => void) | undefined;
  readonly #onAbort = () => this.#wake?.(ABORTED);

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** `promise`'s outcome, or ABORTED if the signal fires first. */
  wait<T>(promise: Promise<T>): Promise<T | typeof ABORTED> {
    if (this.#signal.aborted) return Promise.resolve(ABORTED);
    return new Promise<T | typeof ABORTED>((resolve, reject) => {
      this.#wake = resolve;
      promise.then(resolve, reject);
    });
  }

  dispose(): void {
    this.#wake = undefined;
    this.#signal.removeEventListener("abort", this.#onAbort);
  }
}

/** A send buffer, or ABORTED when the transfer is aborted first (the buffer then goes back). */
async function takeBuffer(
  waits: AbortableWaits,
  taken: Uint8Array | Promise<Uint8Array>,
): Promise<Uint8Array | typeof ABORTED> {
  if (taken instanceof Uint8Array) return taken;
  const buffer = await waits.wait(taken);
  if (buffer === ABORTED) taken.then((late) => sendBuffers.give(late));
  return buffer;
}

/** The size of each read from an upload's data connection. */
const RECEIVE_CHUNK_BYTES = 256 * 1024;

/**
 * A byte stream of what arrives on the data connection. FIN is the end of the
 * file (RFC 959 stream mode) unless fewer bytes came than ALLO announced; a
 * reset errors the stream with
 * {@linkcode DataConnectionLost}, so the connector discards the upload.
 * `onBytes` sees every piece, in the reader's own buffer, before the reader
 * gets it (the checksum tap: no copy).
 */
export function receiveStream(
  connection: ByteConnection,
  progress: TransferProgress,
  announcedBytes = 0,
  signal?: AbortSignal,
  onBytes?: (bytes: Uint8Array) => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: RECEIVE_CHUNK_BYTES,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view as Uint8Array;
      let n: number | null;
      try {
        n = await connection.read(view);
      } catch (error) {
        controller.error(new DataConnectionLost({ cause: error }));
        return;
      }
      if (n === null) {
        // A client that vanishes closes control and data connections at once, and
        // the data connection's end may be seen first. Let pending events run
        // before taking the end as the end of the file: if the control connection
        // closed, the session has aborted the transfer by then.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (signal?.aborted) {
          controller.error(signal.reason);
          return;
        }
        if (progress.bytes < announcedBytes) {
          // ALLO announced more: the upload was cut short, so it must not be stored.
          controller.error(
            new DataConnectionLost({
              cause: new Error(`${progress.bytes} of ${announcedBytes} announced bytes arrived`),
            }),
          );
          return;
        }
        controller.close();
        request.respond(0);
        return;
      }
      progress.add(n);
      onBytes?.(view.subarray(0, n));
      request.respond(n);
    },
  });
}

/** The size of a listing's output buffer: one write per this many bytes. */
const LINE_BATCH_BYTES = 64 * 1024;

/**
 * Write text lines to the data connection in batches: each line is encoded
 * straight into one reused 64 KiB buffer, sent when full. Measured
 * (bench/README.md): with 100 listings at once, building a string per batch
 * kept ~100 MiB of line strings alive; the buffer keeps 64 KiB per listing.
 */
export class LineBatcher {
  readonly #connection: ByteConnection;
  readonly #progress: TransferProgress;
  #buffer: Uint8Array | undefined;
  #used = 0;

  /** Batch lines for `connection`. */
  constructor(connection: ByteConnection, progress: TransferProgress) {
    this.#connection = connection;
    this.#progress = progress;
  }

  /**
   * Queue one line (CRLF is added). Returns a promise only when the buffer
   * was full and had to be sent; await it before the next line.
   */
  add(line: string): Promise<void> | undefined {
    const buffer = this.#buffer ??= new Uint8Array(LINE_BATCH_BYTES);
    // Worst case: 3 UTF-8 bytes per UTF-16 unit, plus CRLF.
    if (this.#used + line.length * 3 + 2 > buffer.length) {
      return this.#flushThenAdd(line);
    }
    let used = this.#used;
    const length = line.length;
    let i = 0;
    // ASCII, the common case, byte by byte; the rest through the encoder.
    for (; i < length; i++) {
      const code = line.charCodeAt(i);
      if (code >= 0x80) break;
      buffer[used++] = code;
    }
    if (i < length) used += encoder.encodeInto(line.slice(i), buffer.subarray(used)).written;
    buffer[used++] = 13;
    buffer[used++] = 10;
    this.#used = used;
    return undefined;
  }

  async #flushThenAdd(line: string): Promise<void> {
    await this.flush();
    if (line.length * 3 + 2 <= LINE_BATCH_BYTES) {
      this.add(line);
      return;
    }
    // Longer than a whole batch: sent on its own.
    const bytes = encoder.encode(line + "\r\n");
    await writeAll(this.#connection, bytes);
    this.#progress.add(bytes.length);
  }

  /** Send what is queued. */
  async flush(): Promise<void> {
    if (!this.#buffer || this.#used === 0) return;
    const used = this.#used;
    this.#used = 0;
    // The connection copies or sends before it resolves: the buffer is reused.
    await writeAll(this.#connection, this.#buffer.subarray(0, used));
    this.#progress.add(used);
  }
}

const encoder = new TextEncoder();
