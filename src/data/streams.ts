/**
 * Moving bytes between storage streams and data connections, counting them
 * for STAT and the stall watchdog.
 *
 * @module
 */

import { DataConnectionLost, StorageError } from "../errors.ts";
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
  // Reading a byte stream into one large reused buffer is ~2.5x faster on
  // loopback than taking its default 64 KiB chunks.
  let byob: ReadableStreamBYOBReader | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    reader = source.getReader();
  }
  let buffer = new Uint8Array(byob ? SEND_BUFFER_BYTES : 0);
  let finished = false;
  // ABOR or a stall must not wait for a storage read that hangs: cancelling
  // ends the pending read at once.
  const onAbort = () => void (byob ?? reader!).cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (!signal.aborted) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = byob ? await byob.read(buffer) : await reader!.read();
      } catch (error) {
        if (error instanceof StorageError) throw error;
        throw new StorageError("io", "Reading from storage failed", { cause: error });
      }
      if (result.done) {
        finished = true;
        break;
      }
      await writeAll(connection, result.value);
      progress.add(result.value.length);
      if (byob) buffer = new Uint8Array(result.value.buffer as ArrayBuffer);
    }
    return progress.bytes;
  } finally {
    signal.removeEventListener("abort", onAbort);
    const active = byob ?? reader!;
    if (!finished) await active.cancel().catch(() => {});
    active.releaseLock();
  }
}

const SEND_BUFFER_BYTES = 1 << 20;

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
