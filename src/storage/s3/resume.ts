/**
 * Resumable uploads (`uploadMode: "atomic_resume"`): a broken multipart
 * upload keeps its stored parts, and a later `REST n` + `STOR` or `APPE` of
 * the same name goes on from them — on any server using the bucket, since the
 * state is in the bucket.
 *
 * The state of a kept upload is a small JSON object at
 * `.exftp-resume/<object key>` (bucket root, outside every FTP prefix; with
 * an empty prefix the folder `/.exftp-resume` is hidden and unreachable). It
 * names the multipart upload and its parts 1…n with their ETags and sizes.
 * Why an object of our own rather than ListMultipartUploads and ListParts:
 * those show uploads still being written by another session too (resuming
 * one of those would mix two streams), they can't tell which one broke, and
 * s3rver implements neither. The state object exists only for an upload that
 * broke, so it is the claim that the upload may be resumed.
 *
 * A kept upload can be resumed only at a part boundary: the parts of an
 * unfinished upload cannot be read back, so bytes between two boundaries
 * could not be kept. SIZE reports the end of the stored parts, which is one.
 *
 * Resuming claims the upload by deleting its state object. That is not
 * atomic: two clients resuming one upload at the same moment could both go on
 * from it. S3 checks every part's ETag on completion, so then one of them
 * fails rather than storing a mix (s3rver does not check).
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import type { S3Bucket } from "./bucket.ts";
import { errorName, httpStatus, isNotFound } from "./errors.ts";
import { KEPT_UPLOADS_FOLDER } from "./keys.ts";
import { type ObjectHead, PARALLEL_REQUESTS, runLimited } from "./objects.ts";
import type { PartsState, StoredPart } from "./uploads.ts";

/** A broken multipart upload kept for resuming. */
export interface KeptUpload extends PartsState {
  /** Bytes in the parts (where a resume goes on). */
  bytes: number;
  /** When it was kept (by the clock of the server that kept it). */
  keptAt: Date;
}

/** The key of the state object of `key`'s kept upload. */
export function keptStateKey(key: string): string {
  return KEPT_UPLOADS_FOLDER + key;
}

/** The kept upload of `key`, or undefined when there is none (or its state is unreadable). */
export async function findKeptUpload(
  bucket: S3Bucket,
  key: string,
  path: string,
): Promise<KeptUpload | undefined> {
  const { sdk, client } = await bucket.connect();
  let text: string;
  try {
    text = await bucket.request(async (signal) => {
      const output = await client.send(
        new sdk.GetObjectCommand({ Bucket: bucket.name, Key: keptStateKey(key) }),
        { abortSignal: signal },
      );
      return await output.Body!.transformToString();
    }, bucket.shared.timeoutMs);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw bucket.mapError(error, path);
  }
  return parseState(text);
}

function parseState(text: string): KeptUpload | undefined {
  try {
    const state = JSON.parse(text);
    const parts: StoredPart[] = state.parts;
    if (typeof state.uploadId !== "string" || !Array.isArray(parts) || parts.length === 0) {
      return undefined;
    }
    let bytes = 0;
    for (const [index, part] of parts.entries()) {
      if (part.PartNumber !== index + 1 || !Number.isSafeInteger(part.Size)) return undefined;
      bytes += part.Size;
    }
    return { uploadId: state.uploadId, parts, bytes, keptAt: new Date(state.keptAt) };
  } catch {
    return undefined;
  }
}

/**
 * Record a broken upload's stored parts so that it can be resumed — unless
 * `error` says the store has no such upload any more (a lifecycle rule or a
 * sweep aborted it while it was kept): then it rejects, so the next attempt
 * starts over rather than resuming a dead upload again.
 */
export async function keepUpload(
  bucket: S3Bucket,
  key: string,
  state: PartsState,
  error?: unknown,
): Promise<void> {
  if (errorName(error) === "NoSuchUpload") throw error;
  const { sdk, client } = await bucket.connect();
  const body = JSON.stringify({
    uploadId: state.uploadId,
    key,
    keptAt: new Date().toISOString(),
    parts: state.parts.map(({ PartNumber, ETag, Size }) => ({ PartNumber, ETag, Size })),
  });
  await bucket.request(
    (signal) =>
      client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket.name,
          Key: keptStateKey(key),
          Body: body,
          ContentType: "application/json",
        }),
        { abortSignal: signal },
      ),
    bucket.shared.timeoutMs,
  );
}

/**
 * Whether a kept upload stands for the name rather than the object there:
 * it is newer (an object stored after it was kept replaced it).
 */
export function keptUploadShows(kept: KeptUpload, head: ObjectHead | undefined): boolean {
  return !head?.mtime || kept.keptAt.getTime() >= head.mtime.getTime();
}

/**
 * What a write at `position` does with the name's kept upload: an append, or
 * a write at one of its part boundaries, goes on from it (claimed, so no one
 * else does) while it stands for the name; any other write replaces it, so it
 * is discarded. Resolves with the parts to go on after, or undefined.
 */
export async function resumePlan(
  bucket: S3Bucket,
  key: string,
  path: string,
  kept: KeptUpload,
  head: ObjectHead | undefined,
  position: "truncate" | "append" | number,
): Promise<(PartsState & { bytes: number }) | undefined> {
  if (keptUploadShows(kept, head) && position !== "truncate" && position !== 0) {
    const bytes = position === "append" ? kept.bytes : position;
    const parts = partsBefore(kept, bytes, path);
    await claimKeptUpload(bucket, key, path);
    return { uploadId: kept.uploadId, parts, bytes };
  }
  await discardKeptUpload(bucket, key, kept, path);
  return undefined;
}

/**
 * The kept parts to go on after when a write starts at `offset`: parts 1…i
 * whose sizes add up to `offset` exactly. Anywhere else rejects with a reason
 * naming the boundaries around it.
 */
export function partsBefore(kept: KeptUpload, offset: number, path: string): StoredPart[] {
  let below = 0;
  for (const [index, part] of kept.parts.entries()) {
    if (below === offset) return kept.parts.slice(0, index);
    if (below + part.Size > offset) break;
    below += part.Size;
  }
  if (below === offset) return kept.parts;
  throw new StorageError(
    "invalid_name",
    `Restart offset ${offset} of "${path}" is not at the end of a stored part of the kept ` +
      `upload; restart at ${below} or at ${kept.bytes} (what SIZE reports)`,
  );
}

/**
 * Take a kept upload for resuming: its state object is deleted first, so no
 * other session resumes it too (if this resume breaks, it is kept anew).
 */
export async function claimKeptUpload(bucket: S3Bucket, key: string, path: string): Promise<void> {
  await deleteState(bucket, key, path);
}

/** Abort a kept upload and forget it (a new upload, a delete, or the sweep replaced it). */
export async function discardKeptUpload(
  bucket: S3Bucket,
  key: string,
  kept: KeptUpload,
  path: string,
): Promise<void> {
  await abortMultipartUpload(bucket, key, kept.uploadId);
  await deleteState(bucket, key, path);
}

async function deleteState(bucket: S3Bucket, key: string, path: string): Promise<void> {
  const { sdk, client } = await bucket.connect();
  try {
    await bucket.request(
      (signal) =>
        client.send(
          new sdk.DeleteObjectCommand({ Bucket: bucket.name, Key: keptStateKey(key) }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
  } catch (error) {
    throw bucket.mapError(error, path);
  }
}

/**
 * Abort a multipart upload; one that is gone already counts as aborted. A
 * store that can't abort (s3rver answers MethodNotAllowed, others
 * NotImplemented) leaves the parts to its own clean-up: the upload is
 * forgotten all the same, since it can't be resumed any more either.
 */
async function abortMultipartUpload(bucket: S3Bucket, key: string, uploadId: string) {
  const { sdk, client } = await bucket.connect();
  try {
    await bucket.request(
      (signal) =>
        client.send(
          new sdk.AbortMultipartUploadCommand({
            Bucket: bucket.name,
            Key: key,
            UploadId: uploadId,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
  } catch (error) {
    if (isNotFound(error) || cannotDo(error)) return;
    throw error;
  }
}

/** The store does not implement the request. */
function cannotDo(error: unknown): boolean {
  const name = errorName(error);
  return name === "MethodNotAllowed" || name === "NotImplemented" || httpStatus(error) === 501 ||
    httpStatus(error) === 405;
}

/** What a sweep did. */
export interface SweepResult {
  /** Kept uploads older than the limit, aborted and forgotten. */
  abandoned: number;
  /**
   * Multipart uploads under the prefix with no state object, started before
   * the limit (a server that died mid-upload), aborted. Only where the store
   * lists multipart uploads.
   */
  orphans: number;
}

/**
 * Abort the kept uploads under the bucket's prefix not resumed for
 * `shared.abandonedUploadMs`, and the multipart uploads under the prefix
 * started that long ago that nobody kept (left by a server that died).
 */
export async function sweepAbandonedUploads(
  bucket: S3Bucket,
  now = Date.now(),
): Promise<SweepResult> {
  const cutoff = now - bucket.shared.abandonedUploadMs;
  const { sdk, client } = await bucket.connect();
  const statePrefix = keptStateKey(bucket.keyPrefix);
  const fresh = new Set<string>();
  const stale: string[] = [];
  let token: string | undefined;
  do {
    const page = await bucket.request(
      (signal) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: bucket.name,
            Prefix: statePrefix,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key!.slice(KEPT_UPLOADS_FOLDER.length);
      if ((object.LastModified?.getTime() ?? now) < cutoff) stale.push(key);
      else fresh.add(key);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  let abandoned = 0;
  await runLimited(stale, PARALLEL_REQUESTS, async (key) => {
    const kept = await findKeptUpload(bucket, key, key);
    if (kept) await discardKeptUpload(bucket, key, kept, key);
    else await deleteState(bucket, key, key);
    abandoned++;
  });
  return { abandoned, orphans: await sweepOrphans(bucket, cutoff, fresh) };
}

/** Abort unkept multipart uploads under the prefix started before `cutoff`. */
async function sweepOrphans(bucket: S3Bucket, cutoff: number, kept: Set<string>) {
  const { sdk, client } = await bucket.connect();
  const orphans: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  try {
    do {
      const page = await bucket.request(
        (signal) =>
          client.send(
            new sdk.ListMultipartUploadsCommand({
              Bucket: bucket.name,
              Prefix: bucket.keyPrefix,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
            { abortSignal: signal },
          ),
        bucket.shared.timeoutMs,
      );
      for (const upload of page.Uploads ?? []) {
        const started = upload.Initiated?.getTime() ?? Infinity;
        if (started < cutoff && !kept.has(upload.Key!)) {
          orphans.push({ key: upload.Key!, uploadId: upload.UploadId! });
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  } catch (error) {
    if (cannotDo(error)) return 0; // s3rver: the store's own clean-up is all there is
    throw error;
  }
  await runLimited(
    orphans,
    PARALLEL_REQUESTS,
    ({ key, uploadId }) => abortMultipartUpload(bucket, key, uploadId),
  );
  return orphans.length;
}
