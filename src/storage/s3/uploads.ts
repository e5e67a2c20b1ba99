/**
 * Streaming uploads: a stream (or several, one after the other) becomes one
 * object with bounded memory, and becomes visible only when complete.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: it concatenates every part into
 * a freshly allocated buffer, and on Deno that garbage is collected late (an
 * upload grew the process by 84–145 MiB where this one grows it by 6–37 MiB;
 * see bench/README.md). Driving the multipart requests here also lets a
 * failure abort in-flight parts at once and the upload on the store.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { StorageError } from "../../errors.ts";
import { MAX_PARTS, type Sdk } from "./options.ts";

/** The first part's buffer starts this small and doubles, so small files stay small. */
const FIRST_BUFFER_BYTES = 256 * 1024;

/** Where and how {@linkcode uploadObject} stores. */
export interface UploadTarget {
  /** The SDK module (loaded lazily by the connector). */
  sdk: Sdk;
  /** The client to send with. */
  client: S3Client;
  /** The bucket. */
  bucket: string;
  /** The object key. */
  key: string;
  /** The FTP path, for messages. */
  path: string;
  /** Bytes per part (at least 5 MiB). */
  partSize: number;
  /** Parts in flight at most. */
  queueSize: number;
  /** Time limit of a single-request (PutObject) upload. */
  putTimeoutMs: number;
  /** Create only: send `If-None-Match: *`, so the store refuses to replace an object. */
  ifNoneMatch: boolean;
  /** Aborts the upload. */
  signal?: AbortSignal;
  /**
   * User metadata, asked for once every byte was read; sent with a single
   * PutObject only (a multipart upload's metadata is fixed when it starts).
   */
  metadata?: (bytes: number) => Record<string, string> | undefined;
  /** Told how the object was made, once it is complete (and its ETag). */
  completed?: (made: { multipart: boolean; etag?: string }) => void;
  /** Go on with this multipart upload after its parts (a resumed upload, see `resume.ts`). */
  resume?: PartsState;
  /**
   * Called on failure (with the first error) instead of aborting the
   * multipart upload when parts from the first on are stored; when it
   * rejects, the upload is aborted.
   */
  keep?: (state: PartsState, error: unknown) => Promise<void>;
}

/** One stored part of a multipart upload. */
export interface StoredPart {
  /** From 1. */
  PartNumber: number;
  /** As UploadPart answered. */
  ETag?: string;
  /** In bytes. */
  Size: number;
}

/** A multipart upload and its stored parts 1…n, in order. */
export interface PartsState {
  /** The multipart upload. */
  uploadId: string;
  /** Parts 1…n with no gap. */
  parts: StoredPart[];
}

/**
 * Stream `pieces`, one after the other, into one object: a single PutObject
 * when everything fits in one part, else a multipart upload with at most
 * `queueSize` parts in flight, each in a buffer reused from a pool of
 * `queueSize + 1` (byte streams are read straight into them). Memory stays
 * at `(queueSize + 1) × partSize` whatever the size.
 *
 * Resolves with the bytes stored once the object is complete. On any failure
 * the in-flight requests are cancelled and the multipart upload is aborted
 * before this rejects — with the signal's reason when aborted, else with the
 * first error as the SDK threw it (the caller maps it).
 */
export async function uploadObject(
  target: UploadTarget,
  pieces: ReadableStream<Uint8Array>[],
): Promise<number> {
  const { signal } = target;
  const upload = new StreamedUpload(target);
  const onAbort = () => upload.cancel(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (const piece of pieces) {
      signal?.throwIfAborted();
      await upload.take(piece);
    }
    signal?.throwIfAborted();
    return await upload.finish();
  } catch (error) {
    await upload.abort(error);
    for (const piece of pieces) piece.cancel(error).catch(() => {});
    if (signal?.aborted) throw signal.reason;
    throw upload.failure?.error ?? error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** One upload in progress: the part buffers, the parts in flight, the multipart upload. */
class StreamedUpload {
  readonly #target: UploadTarget;
  /** Cancels every request in flight: on the first failure, an abort, or a time-out. */
  readonly #inFlightRequests = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** Part buffers whose upload is done, free for the next parts. */
  readonly #pool: Uint8Array[] = [];
  readonly #parts: StoredPart[] = [];
  #failure?: { error: unknown };
  #uploadId?: string;
  #partNumber = 0;
  #buffer: Uint8Array;
  #filled = 0;
  #total = 0;
  #reader?: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;

  constructor(target: UploadTarget) {
    this.#target = target;
    this.#buffer = new Uint8Array(Math.min(FIRST_BUFFER_BYTES, target.partSize));
    if (target.resume) {
      this.#uploadId = target.resume.uploadId;
      this.#parts.push(...target.resume.parts);
      this.#partNumber = target.resume.parts.length;
      this.#total = target.resume.parts.reduce((sum, part) => sum + part.Size, 0);
    }
  }

  /** The first failure of a part request or of the time limit, if any. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * Stop at once: cancel the piece being read and the requests in flight —
   * except, when the upload is to be kept, the parts in flight: each holds a
   * whole part of good data that a resume then need not send again.
   */
  cancel(reason: unknown): void {
    if (!this.#target.keep) this.#inFlightRequests.abort(reason);
    this.#reader?.cancel(reason).catch(() => {});
  }

  /** Read one piece to its end into the part buffers, sending each full part. */
  async take(piece: ReadableStream<Uint8Array>): Promise<void> {
    let reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
    try {
      reader = piece.getReader({ mode: "byob" });
    } catch {
      reader = piece.getReader();
    }
    this.#reader = reader;
    try {
      if (reader instanceof ReadableStreamBYOBReader) await this.#readBytes(reader);
      else await this.#readChunks(reader);
    } finally {
      reader.releaseLock();
    }
  }

  /** Send what is left and make the object: one PutObject, or complete the multipart upload. */
  async finish(): Promise<number> {
    if (this.#uploadId === undefined) await this.#putWhole();
    else await this.#completeMultipart();
    return this.#total;
  }

  /**
   * After a failure: cancel the parts in flight, wait for them, and abort the
   * multipart upload (retried in the background while the store is away).
   */
  async abort(error: unknown): Promise<void> {
    if (this.#target.keep && !this.#failure) await settledWithin(this.#inFlight, KEEP_WAIT_MS);
    this.#inFlightRequests.abort(error);
    await Promise.allSettled(this.#inFlight);
    const uploadId = this.#uploadId;
    if (uploadId === undefined) return;
    if (this.#target.keep) {
      const parts = this.#storedRun();
      if (parts.length > 0) {
        try {
          return await this.#target.keep({ uploadId, parts }, this.#failure?.error ?? error);
        } catch {
          // Not kept: abort it like any other.
        }
      }
    }
    // No orphaned parts: the store must drop what was uploaded, now or, when
    // it is unreachable (the likely cause of the failure), once it is back.
    const { sdk, client, bucket, key } = this.#target;
    const abort = () =>
      client.send(
        new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
      );
    await abort().catch(() => abortLater(abort));
  }

  /** The stored parts from the first on, up to the first gap (parts finish out of order). */
  #storedRun(): StoredPart[] {
    const sorted = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    const run = sorted.findIndex((part, index) => part.PartNumber !== index + 1);
    return run === -1 ? sorted : sorted.slice(0, run);
  }

  /** A byte stream: read straight into the part buffer, no copy, no garbage. */
  async #readBytes(reader: ReadableStreamBYOBReader): Promise<void> {
    while (true) {
      if (this.#filled === this.#buffer.length) await this.#makeRoom();
      const { done, value } = await reader.read(this.#buffer.subarray(this.#filled));
      this.#target.signal?.throwIfAborted();
      // The read transferred the buffer: take it back from the view.
      if (value) this.#buffer = new Uint8Array(value.buffer);
      if (done) break;
      this.#filled += value.length;
      this.#total += value.length;
      this.#throwIfFailed();
    }
  }

  /** Any other stream: copy its chunks into the part buffer. */
  async #readChunks(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    while (true) {
      if (this.#filled === this.#buffer.length) await this.#makeRoom();
      const { done, value } = await reader.read();
      this.#target.signal?.throwIfAborted();
      if (done) break;
      let offset = 0;
      while (offset < value.length) {
        if (this.#filled === this.#buffer.length) await this.#makeRoom();
        const n = Math.min(value.length - offset, this.#buffer.length - this.#filled);
        this.#buffer.set(value.subarray(offset, offset + n), this.#filled);
        this.#filled += n;
        offset += n;
      }
      this.#total += value.length;
      this.#throwIfFailed();
    }
  }

  /** Make room: grow the first part's buffer, or hand a full one to a part upload. */
  async #makeRoom(): Promise<void> {
    const { partSize } = this.#target;
    if (this.#buffer.length < partSize) {
      const bigger = new Uint8Array(Math.min(this.#buffer.length * 2, partSize));
      bigger.set(this.#buffer.subarray(0, this.#filled));
      this.#buffer = bigger;
      return;
    }
    await this.#sendPart(this.#buffer, this.#filled);
    this.#buffer = this.#pool.pop() ?? new Uint8Array(partSize);
    this.#filled = 0;
  }

  /** Start uploading a part, then wait until fewer than `queueSize` are in flight. */
  async #sendPart(part: Uint8Array, length: number): Promise<void> {
    this.#throwIfFailed();
    if (this.#uploadId === undefined) await this.#createMultipart();
    const number = ++this.#partNumber;
    const { sdk, client, bucket, key, partSize, queueSize } = this.#target;
    if (number > MAX_PARTS) {
      throw new StorageError(
        "storage_full",
        `"${this.#target.path}" is larger than ${MAX_PARTS} parts of ${partSize} bytes; raise the part size`,
      );
    }
    const task: Promise<void> = client.send(
      new sdk.UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: this.#uploadId,
        PartNumber: number,
        Body: part.subarray(0, length),
        ContentLength: length,
      }),
      { abortSignal: this.#inFlightRequests.signal },
    ).then((output) => {
      this.#parts.push({ PartNumber: number, ETag: output.ETag, Size: length });
      this.#pool.push(part); // free for the next part
    }, (error) => this.#fail(error)).finally(() => this.#inFlight.delete(task));
    this.#inFlight.add(task);
    while (this.#inFlight.size >= queueSize) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
  }

  async #createMultipart(): Promise<void> {
    const { sdk, client, bucket, key, signal } = this.#target;
    // Not abortable: a created upload must be known so that it can be aborted.
    const created = await client.send(
      new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    this.#uploadId = created.UploadId;
    signal?.throwIfAborted();
  }

  /** Everything fit in the first part: one PutObject, within `putTimeoutMs`. */
  async #putWhole(): Promise<void> {
    const { sdk, client, bucket, key, path, putTimeoutMs } = this.#target;
    const timer = setTimeout(
      () =>
        this.#fail(
          new StorageError("io", `S3 did not take "${path}" within ${putTimeoutMs / 1000} s`),
        ),
      putTimeoutMs,
    );
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: this.#buffer.subarray(0, this.#filled),
          ContentLength: this.#filled,
          IfNoneMatch: this.#target.ifNoneMatch ? "*" : undefined,
          Metadata: this.#target.metadata?.(this.#filled),
        }),
        { abortSignal: this.#inFlightRequests.signal },
      ).then((output) => this.#target.completed?.({ multipart: false, etag: output.ETag }));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send the last part, wait for every part, and complete the multipart upload. */
  async #completeMultipart(): Promise<void> {
    const { sdk, client, bucket, key, signal } = this.#target;
    if (this.#filled > 0) await this.#sendPart(this.#buffer, this.#filled);
    await Promise.all(this.#inFlight);
    this.#throwIfFailed();
    signal?.throwIfAborted();
    this.#parts.sort((a, b) => a.PartNumber - b.PartNumber);
    const output = await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: this.#uploadId,
        MultipartUpload: {
          Parts: this.#parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })),
        },
        IfNoneMatch: this.#target.ifNoneMatch ? "*" : undefined,
      }),
    );
    this.#uploadId = undefined; // complete: nothing left to abort
    this.#target.completed?.({ multipart: true, etag: output.ETag });
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.#inFlightRequests.abort(error);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

/** How long a broken upload that is kept waits for its parts in flight to be stored. */
const KEEP_WAIT_MS = 60_000;

/** Wait until `tasks` settle, or `ms` at most. */
async function settledWithin(tasks: Iterable<Promise<unknown>>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.allSettled(tasks),
      new Promise((resolve) => timer = setTimeout(resolve, ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Delays between later attempts to abort a multipart upload (about 17 minutes in all). */
const ABORT_RETRY_DELAYS_MS = [2_000, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 480_000];

/**
 * Retry an abort in the background until the store answers. The timers do not
 * keep the process alive: an orphan left at exit is what lifecycle rules for
 * incomplete multipart uploads are for.
 */
function abortLater(abort: () => Promise<unknown>, attempt = 0): void {
  if (attempt >= ABORT_RETRY_DELAYS_MS.length) return;
  const timer = setTimeout(() => {
    abort().catch(() => abortLater(abort, attempt + 1));
  }, ABORT_RETRY_DELAYS_MS[attempt]);
  Deno.unrefTimer(timer as unknown as number);
}
