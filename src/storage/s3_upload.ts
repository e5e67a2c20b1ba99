/**
 * Streaming uploads for the s3 connector: a stream (or several, one after
 * the other) becomes one object with bounded memory, and becomes visible only
 * when complete.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { StorageError } from "../errors.ts";

type Sdk = typeof import("@aws-sdk/client-s3");

/** S3's limit on the parts of one multipart upload. */
export const MAX_PARTS = 10_000;
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
  const { sdk, client, bucket, key, partSize, queueSize, signal } = target;
  const ifNoneMatch = target.ifNoneMatch ? "*" : undefined;
  const inFlightRequests = new AbortController();
  const pool: Uint8Array[] = [];
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  const state: { failure?: { error: unknown } } = {};
  const fail = (error: unknown) => {
    state.failure ??= { error };
    inFlightRequests.abort(error);
  };
  const throwIfFailed = () => {
    if (state.failure) throw state.failure.error;
  };
  let uploadId: string | undefined;
  let partNumber = 0;
  let buffer: Uint8Array = new Uint8Array(Math.min(FIRST_BUFFER_BYTES, partSize));
  let filled = 0;
  let total = 0;
  let reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array> | undefined;
  const onAbort = () => {
    inFlightRequests.abort(signal?.reason);
    reader?.cancel(signal?.reason).catch(() => {});
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  const sendPart = async (part: Uint8Array, length: number) => {
    throwIfFailed();
    if (uploadId === undefined) {
      // Not abortable: a created upload must be known so that it can be aborted.
      const created = await client.send(
        new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
      );
      uploadId = created.UploadId;
      signal?.throwIfAborted();
    }
    const number = ++partNumber;
    if (number > MAX_PARTS) {
      throw new StorageError(
        "storage_full",
        `"${target.path}" is larger than ${MAX_PARTS} parts of ${partSize} bytes; raise the part size`,
      );
    }
    const task: Promise<void> = client.send(
      new sdk.UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: number,
        Body: part.subarray(0, length),
        ContentLength: length,
      }),
      { abortSignal: inFlightRequests.signal },
    ).then((output) => {
      parts.push({ PartNumber: number, ETag: output.ETag });
      pool.push(part); // free for the next part
    }, fail).finally(() => inFlight.delete(task));
    inFlight.add(task);
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    throwIfFailed();
  };

  /** Make room: grow the first part's buffer, or hand a full one to a part upload. */
  const flush = async () => {
    if (buffer.length < partSize) {
      const bigger = new Uint8Array(Math.min(buffer.length * 2, partSize));
      bigger.set(buffer.subarray(0, filled));
      buffer = bigger;
      return;
    }
    await sendPart(buffer, filled);
    buffer = pool.pop() ?? new Uint8Array(partSize);
    filled = 0;
  };

  try {
    for (const piece of pieces) {
      signal?.throwIfAborted();
      try {
        reader = piece.getReader({ mode: "byob" });
      } catch {
        reader = piece.getReader();
      }
      try {
        while (true) {
          if (filled === buffer.length) await flush();
          if (reader instanceof ReadableStreamBYOBReader) {
            // Read straight into the part buffer: no copy, no garbage.
            const { done, value } = await reader.read(buffer.subarray(filled));
            signal?.throwIfAborted();
            if (value) buffer = new Uint8Array(value.buffer);
            if (done) break;
            filled += value.length;
            total += value.length;
          } else {
            const { done, value } = await reader.read();
            signal?.throwIfAborted();
            if (done) break;
            let offset = 0;
            while (offset < value.length) {
              if (filled === buffer.length) await flush();
              const n = Math.min(value.length - offset, buffer.length - filled);
              buffer.set(value.subarray(offset, offset + n), filled);
              filled += n;
              offset += n;
            }
            total += value.length;
          }
          throwIfFailed();
        }
      } finally {
        reader.releaseLock();
      }
    }
    signal?.throwIfAborted();

    if (uploadId === undefined) {
      const timer = setTimeout(
        () =>
          fail(
            new StorageError(
              "io",
              `S3 did not take "${target.path}" within ${target.putTimeoutMs / 1000} s`,
            ),
          ),
        target.putTimeoutMs,
      );
      try {
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: buffer.subarray(0, filled),
            ContentLength: filled,
            IfNoneMatch: ifNoneMatch,
          }),
          { abortSignal: inFlightRequests.signal },
        );
      } finally {
        clearTimeout(timer);
      }
      return total;
    }
    if (filled > 0) await sendPart(buffer, filled);
    await Promise.all(inFlight);
    throwIfFailed();
    signal?.throwIfAborted();
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: ifNoneMatch,
      }),
    );
    uploadId = undefined;
    return total;
  } catch (error) {
    inFlightRequests.abort(error);
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      // No orphaned parts: the store must drop what was uploaded, now or, when
      // it is unreachable (the likely cause of the failure), once it is back.
      const abort = () =>
        client.send(
          new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
        );
      await abort().catch(() => abortLater(abort));
    }
    for (const piece of pieces) piece.cancel(error).catch(() => {});
    if (signal?.aborted) throw signal.reason;
    throw state.failure?.error ?? error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
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
