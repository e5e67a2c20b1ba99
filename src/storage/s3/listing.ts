/**
 * Listings and folders: ListObjectsV2 pages, a folder's entries, and whether
 * a folder exists — a `name/` marker object (written by MKD) or any key
 * below it.
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import type { FileInfo } from "../types.ts";
import type { S3Bucket } from "./bucket.ts";
import { notFound } from "./errors.ts";
import { isListableName, KEPT_UPLOADS_FOLDER } from "./keys.ts";
import { headObject } from "./objects.ts";

/** One object of a listing. */
export interface ListedObject {
  key: string;
  size: number;
  mtime?: Date;
}

/** One page of ListObjectsV2. */
export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes (with a delimiter): the sub-folders, ending in `/`. */
  folders: string[];
  nextToken?: string;
}

/** One ListObjectsV2 request. */
export async function listPage(
  bucket: S3Bucket,
  prefix: string,
  delimiter: string | undefined,
  token: string | undefined,
  path: string,
  maxKeys?: number,
): Promise<ListPage> {
  const { sdk, client } = await bucket.connect();
  try {
    const output = await bucket.request(
      (signal) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: bucket.name,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
            MaxKeys: maxKeys,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
    return {
      objects: (output.Contents ?? []).map((object) => ({
        key: object.Key ?? "",
        size: object.Size ?? 0,
        mtime: object.LastModified,
      })),
      folders: (output.CommonPrefixes ?? []).map((folder) => folder.Prefix ?? ""),
      nextToken: output.IsTruncated ? output.NextContinuationToken : undefined,
    };
  } catch (error) {
    throw bucket.mapError(error, path);
  }
}

/** A folder's entries, page by page; `not_found` / `not_a_directory` when it is none. */
export async function* listFolder(bucket: S3Bucket, path: string): AsyncIterable<FileInfo> {
  const prefix = bucket.folderKey(path);
  let next: Promise<ListPage> | undefined = listPage(bucket, prefix, "/", undefined, path);
  let first = true;
  while (next) {
    const page: ListPage = await next;
    // Fetch the next page while this one is being sent to the client.
    next = page.nextToken ? listPage(bucket, prefix, "/", page.nextToken, path) : undefined;
    next?.catch(() => {}); // reported when awaited; the consumer may stop early
    if (first && path !== "/" && page.objects.length === 0 && page.folders.length === 0) {
      if (await headObject(bucket, bucket.key(path), path)) {
        throw new StorageError("not_a_directory", `"${path}" is not a folder`);
      }
      throw notFound(path);
    }
    first = false;
    if (prefix === "") page.folders = page.folders.filter((f) => f !== KEPT_UPLOADS_FOLDER);
    yield* mergeEntries(prefix, page);
  }
}

/** Every key below a folder (no delimiter), page by page. */
export async function* allKeys(
  bucket: S3Bucket,
  prefix: string,
  path: string,
): AsyncIterable<ListedObject> {
  let token: string | undefined;
  do {
    const page = await listPage(bucket, prefix, undefined, token, path);
    yield* page.objects;
    token = page.nextToken;
  } while (token);
}

/** Whether a folder exists (a marker or any key below), with the marker's time. */
export async function probeFolder(
  bucket: S3Bucket,
  path: string,
): Promise<{ exists: boolean; mtime?: Date }> {
  if (path === "/") return { exists: true };
  const prefix = bucket.folderKey(path);
  const page = await listPage(bucket, prefix, undefined, undefined, path, 1);
  const first = page.objects[0];
  if (!first) return { exists: false };
  return { exists: true, mtime: first.key === prefix ? first.mtime : undefined };
}

/** `not_found` unless `path` is a folder; `not_a_directory` when it is a file. */
export async function requireFolder(bucket: S3Bucket, path: string): Promise<void> {
  if ((await probeFolder(bucket, path)).exists) return;
  if (await headObject(bucket, bucket.key(path), path)) {
    throw new StorageError("not_a_directory", `"${path}" is not a folder`);
  }
  throw new StorageError("not_found", `No such folder: "${path}"`);
}

/** Write a folder's marker object (an empty `name/`). */
export async function putFolderMarker(bucket: S3Bucket, path: string): Promise<void> {
  const { sdk, client } = await bucket.connect();
  try {
    await bucket.request(
      (signal) =>
        client.send(
          new sdk.PutObjectCommand({
            Bucket: bucket.name,
            Key: bucket.folderKey(path),
            Body: new Uint8Array(),
            ContentLength: 0,
          }),
          { abortSignal: signal },
        ),
      bucket.shared.timeoutMs,
    );
  } catch (error) {
    throw bucket.mapError(error, path);
  }
}

/**
 * Keep a folder after its last entry went away: a folder that existed only
 * because of keys below it gets a marker, as MKD would have written.
 */
export async function keepFolder(bucket: S3Bucket, path: string): Promise<void> {
  if (path === "/") return;
  if (!(await probeFolder(bucket, path)).exists) await putFolderMarker(bucket, path);
}

/** A listing page as FTP entries, folders and files merged in key order. */
function* mergeEntries(prefix: string, page: ListPage): Iterable<FileInfo> {
  const entries: { sortKey: string; info: FileInfo }[] = [];
  for (const folder of page.folders) {
    const name = folder.slice(prefix.length, -1);
    if (!isListableName(name)) continue;
    entries.push({ sortKey: folder, info: { name, type: "directory", size: 0 } });
  }
  for (const object of page.objects) {
    if (object.key === prefix) continue; // the folder's own marker
    const name = object.key.slice(prefix.length);
    if (!isListableName(name)) continue;
    entries.push({
      sortKey: object.key,
      info: { name, type: "file", size: object.size, mtime: object.mtime },
    });
  }
  entries.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  for (const entry of entries) yield entry.info;
}
