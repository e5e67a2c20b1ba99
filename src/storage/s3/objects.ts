/**
 * Requests on single objects and batches of them: HeadObject, deletes.
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import type { S3Bucket } from "./bucket.ts";
import { httpStatus, isNotFound } from "./errors.ts";

/** Requests run side by side when deleting or copying many objects. */
export const PARALLEL_REQUESTS = 8;
/** S3's limit on the keys of one DeleteObjects request. */
const DELETE_BATCH = 1000;

/** What HeadObject tells of an object. */
export interface ObjectHead {
  size: number;
  mtime?: Date;
  etag?: string;
  /** User metadata (`x-amz-meta-*`, names in lowercase). */
  metadata?: Record<string, string>;
}

/** HeadObject: the object's facts, or undefined when there is none. */
export async function headObject(
  bucket: S3Bucket,
  key: string,
  path: string,
): Promise<ObjectHead | undefined> {
  const { sdk, client } = await bucket.connect();
  try {
    const output = await bucket.request(
      (signal) =>
        client.send(new sdk.HeadObjectCommand({ Bucket: bucket.name, Key: key }), {
          abortSignal: signal,
        }),
      bucket.shared.timeoutMs,
    );
    return {
      size: output.ContentLength ?? 0,
      mtime: output.LastModified,
      etag: output.ETag,
      metadata: output.Metadata,
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw bucket.mapError(error, path);
  }
}

/** Delete one object. */
export async function deleteObject(bucket: S3Bucket, key: string, path: string): Promise<void> {
  const { sdk, client } = await bucket.connect();
  try {
    await bucket.request(
      (signal) =>
        client.send(new sdk.DeleteObjectCommand({ Bucket: bucket.name, Key: key }), {
          abortSignal: signal,
        }),
      bucket.shared.timeoutMs,
    );
  } catch (error) {
    throw bucket.mapError(error, path);
  }
}

/** Delete many objects, a thousand per request where the store takes batches. */
export async function deleteObjects(bucket: S3Bucket, keys: string[], path: string): Promise<void> {
  const { sdk, client } = await bucket.connect();
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH);
    try {
      const output = await bucket.request(
        (signal) =>
          client.send(
            new sdk.DeleteObjectsCommand({
              Bucket: bucket.name,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
            }),
            { abortSignal: signal },
          ),
        bucket.shared.timeoutMs,
      );
      const failed = output.Errors?.[0];
      if (failed) {
        throw new StorageError(
          failed.Code === "AccessDenied" ? "permission_denied" : "io",
          `Could not delete "${failed.Key}": ${failed.Message ?? failed.Code}`,
        );
      }
    } catch (error) {
      const status = httpStatus(error);
      if (status === 400 || status === 501) {
        // Some stores reject the batch call (e.g. wanting Content-MD5): one by one then.
        await runLimited(batch, PARALLEL_REQUESTS, (key) => deleteObject(bucket, key, path));
        continue;
      }
      throw bucket.mapError(error, path);
    }
  }
}

/** Run `task` over `items` with at most `limit` at a time; the first failure wins. */
export async function runLimited<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.error;
}
