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

/**
 * While at most this many copies run in the process, each reads into a
 * second buffer while the first is written. One stream gains (the next read
 * overlaps the write, which is a hop to Deno's blocking thread pool); many at
 * once gain nothing (the others fill the pause) and would double the memory
 * their buffers take (measured: bench/README.md, "Uploads: where the CPU went").
 */
const OVERLAPPED_COPIES_MAX = 4;
let copiesRunning = 0;

/** Copy a stream into a file with reused buffers (much faster than pipeTo here). */
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
  const byob = reader instanceof ReadableStreamBYOBReader;
  const overlap = byob && copiesRunning < OVERLAPPED_COPIES_MAX;
  copiesRunning++;
  const buffers = [new Uint8Array(byob ? COPY_BUFFER_BYTES : 0)];
  if (overlap) buffers.push(new Uint8Array(COPY_BUFFER_BYTES));
  let turn = 0;
  let writing: Promise<Uint8Array<ArrayBuffer>> | undefined;
  let total = 0;
  try {
    while (true) {
      // One buffer: it must be written before it is read into again.
      if (!overlap && writing) buffers[turn] = await writing;
      if (!overlap) writing = undefined;
      const result = byob
        ? await (reader as ReadableStreamBYOBReader).read(buffers[turn])
        : await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      // The previous write ends before the next one starts (and before giving up).
      if (writing) buffers[turn ^ 1] = await writing;
      writing = undefined;
      signal?.throwIfAborted();
      if (result.done) break;
      total += result.value.length;
      writing = writeAllTo(file, result.value);
      // Awaited after the next read: a write failing meanwhile (a full disk)
      // must not be an unhandled rejection, which ends a Deno program.
      writing.catch(() => {});
      if (overlap) turn ^= 1;
    }
    return total;
  } finally {
    copiesRunning--;
    await writing?.catch(() => {});
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/**
 * Runs at most `limit` tasks at once; the others wait their turn, first come
 * first served (a finishing task hands its place to the next one).
 */
export class Gate {
  readonly limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** A gate for `limit` tasks at once. */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Run `task` once a place is free; its place is given back however it ends. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.limit) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * The file writes of every upload at once share this gate. Each write is a
 * job for Deno's blocking thread pool; unbounded, 300 uploads kept ~300 of
 * them runnable beside the event loop, and uploads finished very unevenly.
 * Measured (bench/README.md, 300 uploads of 10 MiB, 2 cores): p99 per file
 * 5.4–7.3 s unbounded, 2.7 s at 4 writes at once, same throughput.
 */
export const fileWrites: Gate = new Gate(Math.max(2, 2 * (navigator.hardwareConcurrency || 1)));

/** Write all of `chunk`; resolves with a view of its whole buffer, to read into again. */
function writeAllTo(
  file: Deno.FsFile,
  chunk: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  return fileWrites.run(async () => {
    let offset = 0;
    while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
    return new Uint8Array(chunk.buffer as ArrayBuffer);
  });
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
