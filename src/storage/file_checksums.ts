/**
 * Where the file connector keeps upload checksums: one small JSON record per
 * file, in a server-owned folder at the root that is never listed nor
 * addressable ({@linkcode CHECKSUMS_FOLDER} starts with the reserved
 * `.exftp-upload-` prefix). Deno has no extended-attribute API, so the
 * checksums can't travel with the file itself.
 *
 * A record is keyed by the file's device and inode and holds the size,
 * modification time and change time it was made for; it is served only while
 * the file still has all three, so a file rewritten, appended to, truncated
 * or replaced behind the server's back never gets an old checksum (its
 * record is dropped when next looked at). Limit, measured with Deno 2.9.6 on
 * ext4: `Deno.stat` gives the modification time to the millisecond and the
 * change time to the second, so a same-size rewrite that lands within the
 * same millisecond as the upload it replaces would go unnoticed.
 *
 * @module
 */

import * as realPathLib from "node:path";
import type { ChecksumAlgorithm } from "../checksums/algorithms.ts";
import { TEMP_PREFIX } from "./file_jail.ts";

/** The records' folder below the root (reserved: clients can't reach it). */
export const CHECKSUMS_FOLDER = `${TEMP_PREFIX}checksums`;

/** One file's kept checksums and the state of the file they belong to. */
interface ChecksumRecord {
  size: number;
  mtimeMs: number;
  ctimeMs: number | null;
  digests: Partial<Record<ChecksumAlgorithm, string>>;
}

/** The record's path for a file's identity (sharded by the inode's low byte). */
function recordPath(root: string, info: Deno.FileInfo): string | undefined {
  if (info.ino === null || info.dev === null) return undefined;
  const shard = (info.ino & 0xff).toString(16).padStart(2, "0");
  return realPathLib.join(root, CHECKSUMS_FOLDER, shard, `${info.dev}-${info.ino}.json`);
}

function sameFile(record: ChecksumRecord, info: Deno.FileInfo): boolean {
  return record.size === info.size && record.mtimeMs === info.mtime?.getTime() &&
    record.ctimeMs === (info.ctime?.getTime() ?? null);
}

/**
 * Keep `digests` for the file whose state is `info` (taken after it reached
 * its final name). Best effort: a root the server can't write to just keeps
 * nothing, and HASH then reads the file.
 */
export async function keepChecksums(
  root: string,
  info: Deno.FileInfo,
  digests: Partial<Record<ChecksumAlgorithm, string>>,
): Promise<void> {
  const path = recordPath(root, info);
  if (!path || !info.mtime) return;
  const record: ChecksumRecord = {
    size: info.size,
    mtimeMs: info.mtime.getTime(),
    ctimeMs: info.ctime?.getTime() ?? null,
    digests,
  };
  const temp = `${path}.${crypto.randomUUID()}`;
  try {
    await Deno.mkdir(realPathLib.dirname(path), { recursive: true });
    await Deno.writeTextFile(temp, JSON.stringify(record));
    await Deno.rename(temp, path);
  } catch {
    await Deno.remove(temp).catch(() => {});
  }
}

/** The kept checksum of the file whose current state is `info`, if still valid. */
export async function keptChecksum(
  root: string,
  info: Deno.FileInfo,
  algorithm: ChecksumAlgorithm,
): Promise<string | undefined> {
  const path = recordPath(root, info);
  if (!path) return undefined;
  let record: ChecksumRecord;
  try {
    record = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
  if (!sameFile(record, info)) {
    // The file changed since (or the inode was reused): the record is worthless.
    await Deno.remove(path).catch(() => {});
    return undefined;
  }
  const digest = record.digests?.[algorithm];
  return typeof digest === "string" && /^[0-9a-f]+$/.test(digest) ? digest : undefined;
}

/**
 * Drop the record of a file that was removed (its last name), and the
 * records' folders once empty, so a tree emptied over FTP is empty on disk.
 */
export async function dropChecksums(root: string, info: Deno.FileInfo): Promise<void> {
  const path = recordPath(root, info);
  if (!path) return;
  try {
    await Deno.remove(path);
    await Deno.remove(realPathLib.dirname(path)); // only when empty
    await Deno.remove(realPathLib.join(root, CHECKSUMS_FOLDER));
  } catch {
    // No record, or the folders still hold others'.
  }
}
