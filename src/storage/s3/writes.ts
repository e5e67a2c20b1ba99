/**
 * Writes with the connector's semantics: create-only (exclusive) writes,
 * appends and writes at an offset. Objects cannot be edited in place, so the
 * kept bytes are streamed from the store ahead of the new ones into one
 * upload (see `uploads.ts`).
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import { parentPath } from "../../paths.ts";
import type { WriteOptions } from "../types.ts";
import type { S3Bucket } from "./bucket.ts";
import { attachMetadata, checksumMetadata } from "./checksums.ts";
import { isPreconditionFailed } from "./errors.ts";
import { probeFolder, requireFolder } from "./listing.ts";
import { headObject, type ObjectHead } from "./objects.ts";
import { readRange } from "./reads.ts";
import { findKeptUpload, keepUpload, resumePlan } from "./resume.ts";
import { uploadObject } from "./uploads.ts";

/** Store `source` at `path` as `options` say; resolves with the bytes taken from `source`. */
export async function writeObject(
  bucket: S3Bucket,
  path: string,
  source: ReadableStream<Uint8Array>,
  options: WriteOptions = {},
): Promise<number> {
  const position = options.position ?? "truncate";
  const exclusiveKey = `${bucket.name}\0${bucket.uncheckedKey(path)}`;
  const { exclusiveKeys } = bucket.shared;
  let locked = false;
  try {
    if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
    const key = bucket.key(path);
    if (options.exclusive) {
      // One process never lets two exclusive writers in; across processes the
      // store decides through If-None-Match (where it supports it).
      if (exclusiveKeys.has(exclusiveKey)) {
        throw new StorageError("already_exists", `"${path}" already exists`);
      }
      exclusiveKeys.add(exclusiveKey);
      locked = true;
    }
    const keeps = bucket.shared.keepsBrokenUploads;
    const [, head, folder, kept] = await Promise.all([
      requireFolder(bucket, parentPath(path)),
      headObject(bucket, key, path),
      probeFolder(bucket, path),
      keeps ? findKeptUpload(bucket, key, path) : undefined,
    ]);
    if (folder.exists) throw new StorageError("is_a_directory", `"${path}" is a folder`);
    if (options.exclusive && head) {
      throw new StorageError("already_exists", `"${path}" already exists`);
    }
    const resume = kept &&
      await resumePlan(bucket, key, path, kept, head, options.exclusive ? "truncate" : position);
    const { pieces, keptBytes } = resume
      ? { pieces: [], keptBytes: resume.bytes }
      : await keptPieces(bucket, key, path, position, head);
    pieces.push(source);
    const { sdk, client } = await bucket.connect();
    const { partSize, queueSize, timeoutMs } = bucket.shared;
    // Checksums describe the whole object: kept only when it is all new bytes.
    const checksums = position === "truncate" ? options.checksums : undefined;
    let made: { multipart: boolean; etag?: string } | undefined;
    let stored: number;
    try {
      stored = await uploadObject({
        sdk,
        client,
        bucket: bucket.name,
        key,
        path,
        partSize,
        queueSize,
        putTimeoutMs: Math.max(timeoutMs, 300_000),
        ifNoneMatch: options.exclusive === true,
        signal: options.signal,
        metadata: checksums && ((bytes) => checksumMetadata(checksums, bytes)),
        completed: (result) => made = result,
        resume,
        keep: keeps ? (state, error) => keepUpload(bucket, key, state, error) : undefined,
      }, pieces);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (options.exclusive && isPreconditionFailed(error)) {
        throw new StorageError("already_exists", `"${path}" already exists`, { cause: error });
      }
      throw bucket.mapError(error, path);
    }
    if (checksums && made?.multipart && made.etag) {
      await attachMetadata(bucket, key, made.etag, checksumMetadata(checksums, stored));
    }
    return stored - keptBytes;
  } catch (error) {
    await source.cancel(error).catch(() => {});
    throw error;
  } finally {
    if (locked) exclusiveKeys.delete(exclusiveKey);
  }
}

/**
 * What goes ahead of the new bytes: objects cannot be edited, so keep the
 * stored bytes by streaming them first (zeros past the stored end).
 */
async function keptPieces(
  bucket: S3Bucket,
  key: string,
  path: string,
  position: NonNullable<WriteOptions["position"]>,
  head: ObjectHead | undefined,
): Promise<{ pieces: ReadableStream<Uint8Array>[]; keptBytes: number }> {
  const pieces: ReadableStream<Uint8Array>[] = [];
  let keptBytes = 0;
  if (position !== "truncate" && head) {
    keptBytes = position === "append" ? head.size : position;
    const fromStore = Math.min(keptBytes, head.size);
    if (fromStore > 0) pieces.push(await readRange(bucket, key, path, fromStore, head.etag));
    if (keptBytes > head.size) pieces.push(zeroStream(keptBytes - head.size));
  } else if (typeof position === "number" && position > 0) {
    keptBytes = position;
    pieces.push(zeroStream(position));
  }
  return { pieces, keptBytes };
}

/** `length` zero bytes (a write at an offset beyond the end of the stored file). */
function zeroStream(length: number): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream({
    pull(controller) {
      if (left === 0) {
        controller.close();
        return;
      }
      const n = Math.min(left, 64 * 1024);
      controller.enqueue(new Uint8Array(n));
      left -= n;
    },
  });
}
