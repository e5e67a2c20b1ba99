/**
 * The file connector's Deno file-system helpers: errors as
 * {@linkcode StorageError}s, `Deno.FileInfo` as {@linkcode FileInfo}, and the
 * stream-to-file copy.
 *
 * @module
 */

import * as realPathLib from "node:path";
import { StorageError, type StorageErrorKind } from "../errors.ts";
import type { FileInfo } from "./types.ts";

const COPY_BUFFER_BYTES = 1 << 20;

/** The last segment of a virtual path (`""` for the root). */
export function baseNameOf(path: string): string {
  return path === "/" ? "" : realPathLib.posix.basename(path);
}

/** A `Deno.FileInfo` as the connector's {@linkcode FileInfo}. */
export function toFileInfo(name: string, info: Deno.FileInfo): FileInfo {
  return {
    name,
    type: info.isDirectory ? "directory" : "file",
    size: info.isDirectory ? 0 : info.size,
    mtime: info.mtime ?? undefined,
    mode: info.mode === null ? undefined : info.mode & 0o7777,
  };
}

/** Copy a stream into a file with one reused buffer (much faster than pipeTo here). */
export async function copyInto(
  source: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  signal?: AbortSignal,
): Promise<number> {
  signal?.throwIfAborted();
  let reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = source.getReader({ mode: "byob" });
  } catch {
    reader = source.getReader();
  }
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let total = 0;
  let buffer = new Uint8Array(COPY_BUFFER_BYTES);
  try {
    while (true) {
      const result = reader instanceof ReadableStreamBYOBReader
        ? await reader.read(buffer)
        : await reader.read();
      signal?.throwIfAborted();
      if (result.done) break;
      const chunk = result.value;
      let offset = 0;
      while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
      total += chunk.length;
      if (reader instanceof ReadableStreamBYOBReader) {
        buffer = new Uint8Array(chunk.buffer as ArrayBuffer);
      }
    }
    return total;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/** Run a file-system call, its failure mapped to a `StorageError` on `path`. */
export async function wrap<T>(action: () => Promise<T>, path: string): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw mapError(error, path);
  }
}

const ERRNO_KINDS: Record<string, StorageErrorKind> = {
  ENOENT: "not_found",
  EEXIST: "already_exists",
  EACCES: "permission_denied",
  EPERM: "permission_denied",
  EROFS: "permission_denied",
  ENOTEMPTY: "not_empty",
  ENOSPC: "storage_full",
  EDQUOT: "storage_full",
  ENAMETOOLONG: "invalid_name",
  EINVAL: "invalid_name",
  ENOTDIR: "not_a_directory",
  EISDIR: "is_a_directory",
  ELOOP: "not_found",
};

const KIND_TEXT: Record<StorageErrorKind, string> = {
  not_found: "No such file or folder",
  already_exists: "Already exists",
  permission_denied: "Permission denied",
  not_empty: "Folder not empty",
  storage_full: "No space left",
  invalid_name: "Invalid file name",
  not_a_directory: "Not a folder",
  is_a_directory: "Is a folder",
  io: "Storage error",
};

/** Turn a Deno file-system error into a {@linkcode StorageError}. */
export function mapError(error: unknown, path: string): unknown {
  if (error instanceof StorageError) return error;
  if (error instanceof Deno.errors.NotCapable) {
    return new StorageError("permission_denied", `Permission denied by Deno's sandbox: "${path}"`, {
      cause: error,
    });
  }
  const code = (error as { code?: string } | null)?.code;
  const kind = (code && ERRNO_KINDS[code]) ||
    (error instanceof Deno.errors.NotFound ? "not_found" : undefined);
  if (kind) return new StorageError(kind, `${KIND_TEXT[kind]}: "${path}"`, { cause: error });
  if (error instanceof DOMException && error.name === "AbortError") return error;
  return error;
}
