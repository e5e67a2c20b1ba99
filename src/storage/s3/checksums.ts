/**
 * Upload checksums kept as object metadata (`x-amz-meta-exftp-sha-256`…,
 * with `x-amz-meta-exftp-size`). Metadata belongs to the object's content:
 * replacing the object replaces it, and a copy (a rename) carries it along,
 * so it never describes other bytes; the size is checked as well.
 *
 * A single PutObject sends the metadata with the bytes. A multipart upload's
 * metadata is fixed when it starts, before any checksum is known, so once it
 * is complete the object is copied onto itself with the metadata (a
 * server-side copy, only while it is still the object uploaded: `If-Match`
 * its ETag). If that copy fails, nothing is kept and HASH reads the object.
 *
 * @module
 */

import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from "../../checksums/algorithms.ts";
import type { UploadChecksums } from "../types.ts";
import type { S3Bucket } from "./bucket.ts";
import { encodeKey } from "./keys.ts";
import type { ObjectHead } from "./objects.ts";

const PREFIX = "exftp-";
const SIZE_KEY = `${PREFIX}size`;

/** The metadata that keeps `checksums` of an object of `bytes` bytes. */
export function checksumMetadata(
  checksums: UploadChecksums,
  bytes: number,
): Record<string, string> {
  const metadata: Record<string, string> = { [SIZE_KEY]: String(bytes) };
  for (const [algorithm, digest] of Object.entries(checksums.digests())) {
    if (digest) metadata[PREFIX + algorithm.toLowerCase()] = digest;
  }
  return metadata;
}

/** The checksum kept in an object's metadata, if it is there and for this content. */
export function keptChecksum(head: ObjectHead, algorithm: ChecksumAlgorithm): string | undefined {
  const metadata = head.metadata ?? {};
  if (metadata[SIZE_KEY] !== String(head.size)) return undefined;
  const digest = metadata[PREFIX + algorithm.toLowerCase()];
  return digest && /^[0-9a-f]+$/.test(digest) ? digest : undefined;
}

/**
 * After a multipart upload: copy the object onto itself with `metadata`, only
 * if it is still the one with `etag`. Best effort (resolves either way).
 */
export async function attachMetadata(
  bucket: S3Bucket,
  key: string,
  etag: string,
  metadata: Record<string, string>,
): Promise<void> {
  if (!CHECKSUM_ALGORITHMS.some((algorithm) => PREFIX + algorithm.toLowerCase() in metadata)) {
    return;
  }
  const { sdk, client } = await bucket.connect();
  await bucket.request(
    (signal) =>
      client.send(
        new sdk.CopyObjectCommand({
          Bucket: bucket.name,
          Key: key,
          CopySource: `${encodeKey(bucket.name)}/${encodeKey(key)}`,
          CopySourceIfMatch: etag,
          MetadataDirective: "REPLACE",
          Metadata: metadata,
        }),
        { abortSignal: signal },
      ),
    Math.max(bucket.shared.timeoutMs, 600_000), // a server-side copy of gigabytes takes a while
  ).catch(() => {});
}
