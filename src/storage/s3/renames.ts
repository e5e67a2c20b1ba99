/**
 * Renames: S3 has no rename, so a file is copied and deleted, and a folder
 * is every key below it copied, then deleted; a failed folder move takes
 * back what it copied and leaves the source whole.
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import { parentPath } from "../../paths.ts";
import type { S3Bucket } from "./bucket.ts";
import { notFound } from "./errors.ts";
import { encodeKey, keyBytes, MAX_KEY_BYTES } from "./keys.ts";
import {
  allKeys,
  keepFolder,
  type ListedObject,
  listPage,
  probeFolder,
  requireFolder,
} from "./listing.ts";
import {
  deleteObject,
  deleteObjects,
  headObject,
  PARALLEL_REQUESTS,
  runLimited,
} from "./objects.ts";
import { MAX_PART_SIZE, MAX_PARTS, MIB } from "./options.ts";

/** Rename a file or folder; a folder target must be empty, a file target is replaced. */
export async function renameEntry(bucket: S3Bucket, from: string, to: string): Promise<void> {
  if (from === "/" || to === "/") {
    throw new StorageError("permission_denied", "The root cannot be renamed");
  }
  const fromKey = bucket.key(from);
  const toKey = bucket.key(to);
  const [head, folder] = await Promise.all([
    headObject(bucket, fromKey, from),
    probeFolder(bucket, from),
  ]);
  if (!head && !folder.exists) throw notFound(from);
  if (from === to) return;
  if (to.startsWith(from + "/")) {
    throw new StorageError("invalid_name", `Cannot move "${from}" into itself`);
  }
  const [, toHead, toFolder] = await Promise.all([
    requireFolder(bucket, parentPath(to)),
    headObject(bucket, toKey, to),
    probeFolder(bucket, to),
  ]);
  if (head) {
    if (toFolder.exists) throw new StorageError("is_a_directory", `"${to}" is a folder`);
    await copyObject(bucket, fromKey, toKey, head.size, from);
    await deleteObject(bucket, fromKey, from);
  } else {
    if (toHead) throw new StorageError("not_a_directory", `"${to}" is not a folder`);
    if (toFolder.exists) {
      const target = bucket.folderKey(to);
      const page = await listPage(bucket, target, undefined, undefined, to, 2);
      if (page.objects.some((object) => object.key !== target)) {
        throw new StorageError("not_empty", `"${to}" is not empty`);
      }
    }
    await moveFolder(bucket, from, to);
  }
  await keepFolder(bucket, parentPath(from));
}

/** Copy one object; multipart copy above the single-request limit. */
async function copyObject(
  bucket: S3Bucket,
  fromKey: string,
  toKey: string,
  size: number,
  path: string,
): Promise<void> {
  const { sdk, client } = await bucket.connect();
  const copySource = `${encodeKey(bucket.name)}/${encodeKey(fromKey)}`;
  const shared = bucket.shared;
  try {
    if (size <= shared.multipartCopyThreshold) {
      await bucket.request(
        (signal) =>
          client.send(
            new sdk.CopyObjectCommand({
              Bucket: bucket.name,
              Key: toKey,
              CopySource: copySource,
            }),
            { abortSignal: signal },
          ),
        Math.max(shared.timeoutMs, 600_000), // a server-side copy of gigabytes takes a while
      );
      return;
    }
    const partSize = Math.min(
      MAX_PART_SIZE,
      Math.max(shared.partSize, 512 * MIB, Math.ceil(size / MAX_PARTS)),
    );
    const { UploadId } = await client.send(
      new sdk.CreateMultipartUploadCommand({ Bucket: bucket.name, Key: toKey }),
    );
    try {
      const ranges: { number: number; start: number; end: number }[] = [];
      for (let start = 0, number = 1; start < size; start += partSize, number++) {
        ranges.push({ number, start, end: Math.min(size, start + partSize) - 1 });
      }
      const parts: { PartNumber: number; ETag?: string }[] = [];
      await runLimited(ranges, shared.queueSize, async (range) => {
        const output = await client.send(
          new sdk.UploadPartCopyCommand({
            Bucket: bucket.name,
            Key: toKey,
            UploadId,
            PartNumber: range.number,
            CopySource: copySource,
            CopySourceRange: `bytes=${range.start}-${range.end}`,
          }),
        );
        parts.push({ PartNumber: range.number, ETag: output.CopyPartResult?.ETag });
      });
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await client.send(
        new sdk.CompleteMultipartUploadCommand({
          Bucket: bucket.name,
          Key: toKey,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      await client.send(
        new sdk.AbortMultipartUploadCommand({ Bucket: bucket.name, Key: toKey, UploadId }),
      ).catch(() => {});
      throw error;
    }
  } catch (error) {
    throw bucket.mapError(error, path);
  }
}

/** Copy every key below `from` to below `to`, then delete the originals. */
async function moveFolder(bucket: S3Bucket, from: string, to: string): Promise<void> {
  const fromPrefix = bucket.folderKey(from);
  const toPrefix = bucket.folderKey(to);
  const objects: ListedObject[] = [];
  for await (const object of allKeys(bucket, fromPrefix, from)) objects.push(object);
  const copied: string[] = [];
  try {
    await runLimited(objects, PARALLEL_REQUESTS, async (object) => {
      const target = toPrefix + object.key.slice(fromPrefix.length);
      if (keyBytes(target) > MAX_KEY_BYTES) {
        throw new StorageError("invalid_name", `Name too long for S3 below "${to}"`);
      }
      await copyObject(bucket, object.key, target, object.size, from);
      copied.push(target);
    });
  } catch (error) {
    // Leave the source whole and take back what was copied.
    await deleteObjects(bucket, copied, to).catch(() => {});
    throw error;
  }
  await deleteObjects(bucket, objects.map((object) => object.key), from);
}
