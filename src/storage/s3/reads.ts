/**
 * Reads: GetObject as a stream, from an offset or of a leading range pinned
 * to one version (what appends and offset writes keep).
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import type { ReadOptions } from "../types.ts";
import type { S3Bucket } from "./bucket.ts";
import { errorName, httpStatus, isNotFound, notFound } from "./errors.ts";
import { probeFolder } from "./listing.ts";

/** The bytes of `path` from `options.offset` on. */
export async function readObject(
  bucket: S3Bucket,
  path: string,
  options: ReadOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
  const key = bucket.key(path);
  const offset = options.offset ?? 0;
  const { sdk, client } = await bucket.connect();
  try {
    const output = await bucket.request(
      (signal) =>
        client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket.name,
            Key: key,
            Range: offset > 0 ? `bytes=${offset}-` : undefined,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
      options.signal,
    );
    if (!output.Body) return emptyStream();
    return output.Body.transformToWebStream() as ReadableStream<Uint8Array>;
  } catch (error) {
    if (errorName(error) === "InvalidRange" || httpStatus(error) === 416) {
      return emptyStream(); // the offset is the end of the file (or beyond)
    }
    if (isNotFound(error)) {
      if ((await probeFolder(bucket, path)).exists) {
        throw new StorageError("is_a_directory", `"${path}" is a folder`);
      }
      throw notFound(path);
    }
    throw bucket.mapError(error, path);
  }
}

/** A ranged read of the first `length` bytes, pinned to one version by ETag. */
export async function readRange(
  bucket: S3Bucket,
  key: string,
  path: string,
  length: number,
  etag: string | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const { sdk, client } = await bucket.connect();
  try {
    const output = await bucket.request(
      (signal) =>
        client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket.name,
            Key: key,
            Range: `bytes=0-${length - 1}`,
            IfMatch: etag,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
    if (!output.Body) return emptyStream();
    return output.Body.transformToWebStream() as ReadableStream<Uint8Array>;
  } catch (error) {
    if (errorName(error) === "PreconditionFailed" || httpStatus(error) === 412) {
      throw new StorageError("io", `"${path}" changed while being appended to; try again`, {
        cause: error,
      });
    }
    throw bucket.mapError(error, path);
  }
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.close();
    },
  });
}
