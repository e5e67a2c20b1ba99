/**
 * The `file` connector: a folder of the local file system, jailed to its root.
 *
 * @module
 */

import * as realPathLib from "node:path";
import { StorageError, type StorageErrorKind } from "../errors.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "./types.ts";

/** How uploads reach the target file. */
export type UploadMode = "atomic" | "atomic_resume" | "direct";

/** Options of {@linkcode FileStorage}. */
export interface FileStorageOptions {
  /** The folder that becomes the FTP `/`. @default {"."} */
  root?: string;
  /**
   * `atomic` writes to a temporary file beside the target and renames it over
   * the target only when the transfer completed; `atomic_resume` does the same
   * but keeps a failed upload's partial data at the target name so the client
   * can resume; `direct` writes in place.
   * @default {"atomic"}
   */
  uploadMode?: UploadMode;
}

/** Temporary upload files start with this; they never appear in listings. */
export const TEMP_PREFIX = ".exftp-upload-";
const COPY_BUFFER_BYTES = 1 << 20;

/**
 * Serves a local folder. Nothing outside the root is reachable: virtual paths
 * cannot contain `..`, and every real path is resolved through symlinks and
 * checked to stay inside the root's real path.
 *
 * @example
 * ```ts
 * import { FileStorage } from "@exftp/server";
 * const storage = new FileStorage({ root: "/srv/ftp" });
 * ```
 */
export class FileStorage implements StorageConnector {
  readonly #root: string;
  readonly #uploadMode: UploadMode;
  #realRoot?: Promise<string>;

  /** Serve `options.root` (default: the current folder). */
  constructor(options: FileStorageOptions = {}) {
    this.#root = realPathLib.resolve(options.root ?? ".");
    this.#uploadMode = options.uploadMode ?? "atomic";
  }

  /** The root folder as given, made absolute. */
  get root(): string {
    return this.#root;
  }

  async stat(path: string): Promise<FileInfo> {
    const real = await this.#existing(path);
    const info = await wrap(() => Deno.stat(real), path);
    return toFileInfo(baseNameOf(path), info);
  }

  async *list(path: string): AsyncIterable<FileInfo> {
    const real = await this.#existing(path);
    const realRoot = await this.#realRootPath();
    let entries: AsyncIterable<Deno.DirEntry>;
    try {
      entries = Deno.readDir(real);
    } catch (error) {
      throw mapError(error, path);
    }
    const iterator = entries[Symbol.asyncIterator]();
    while (true) {
      let next: IteratorResult<Deno.DirEntry>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw mapError(error, path);
      }
      if (next.done) return;
      const entry = next.value;
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const child = realPathLib.join(real, entry.name);
      try {
        if (entry.isSymlink && !isInside(realRoot, await Deno.realPath(child))) continue;
        yield toFileInfo(entry.name, await Deno.stat(child));
      } catch {
        // Vanished since it was listed, a broken link, or unreadable: not listable.
      }
    }
  }

  async read(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const real = await this.#existing(path);
    const file = await wrap(() => Deno.open(real, { read: true }), path);
    try {
      const info = await file.stat();
      if (info.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
      if (options.offset) await file.seek(options.offset, Deno.SeekMode.Start);
    } catch (error) {
      file.close();
      throw mapError(error, path);
    }
    return file.readable;
  }

  async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<number> {
    const target = await this.#creatable(path);
    const position = options.position ?? "truncate";
    if (options.exclusive) {
      // Reserve the name first: createNew decides atomically who gets it.
      (await wrap(() => Deno.open(target, { write: true, createNew: true }), path)).close();
      try {
        return await this.write(path, source, { ...options, exclusive: false });
      } catch (error) {
        if (this.#uploadMode !== "atomic_resume") await Deno.remove(target).catch(() => {});
        throw error;
      }
    }
    const existing = await this.#statThroughLinks(target, path);
    if (existing?.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
    if (this.#uploadMode === "direct") {
      // Writing in place would follow a dangling link wherever it points.
      if (!existing && (await Deno.lstat(target).catch(() => undefined))?.isSymlink) {
        throw escaped(path);
      }
      const file = await wrap(() =>
        Deno.open(target, {
          write: true,
          create: true,
          append: position === "append",
          truncate: position === "truncate",
        }), path);
      try {
        if (typeof position === "number") {
          await file.truncate(position);
          await file.seek(position, Deno.SeekMode.Start);
        }
        return await copyInto(source, file, options.signal);
      } catch (error) {
        throw mapError(error, path);
      } finally {
        file.close();
      }
    }

    const temp = realPathLib.join(
      realPathLib.dirname(target),
      `${TEMP_PREFIX}${crypto.randomUUID()}`,
    );
    let file: Deno.FsFile | undefined;
    try {
      if (existing && position !== "truncate") {
        await Deno.copyFile(target, temp);
        file = await Deno.open(temp, { write: true, append: position === "append" });
        if (typeof position === "number") {
          await file.truncate(position);
          await file.seek(position, Deno.SeekMode.Start);
        }
      } else {
        file = await Deno.open(temp, { write: true, createNew: true });
      }
      // Keep the replaced file's permissions, but never setuid/setgid/sticky bits.
      if (existing) await Deno.chmod(temp, existing.mode! & 0o777).catch(() => {});
      const written = await copyInto(source, file, options.signal);
      file.close();
      file = undefined;
      await Deno.rename(temp, target);
      return written;
    } catch (error) {
      file?.close();
      if (this.#uploadMode === "atomic_resume") {
        await Deno.rename(temp, target).catch(() => Deno.remove(temp).catch(() => {}));
      } else {
        await Deno.remove(temp).catch(() => {});
      }
      throw mapError(error, path);
    }
  }

  async mkdir(path: string): Promise<void> {
    const real = await this.#creatable(path);
    await wrap(() => Deno.mkdir(real), path);
  }

  async rmdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("permission_denied", "The root cannot be removed");
    const real = await this.#existing(path);
    const info = await wrap(() => Deno.lstat(real), path);
    if (!info.isDirectory) throw new StorageError("not_a_directory", `"${path}" is not a folder`);
    await wrap(() => Deno.remove(real), path);
  }

  async remove(path: string): Promise<void> {
    const real = await this.#creatable(path);
    const info = await wrap(() => Deno.lstat(real), path);
    if (info.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
    await wrap(() => Deno.remove(real), path);
  }

  async rename(from: string, to: string): Promise<void> {
    if (from === "/" || to === "/") {
      throw new StorageError("permission_denied", "The root cannot be renamed");
    }
    const realFrom = await this.#creatable(from);
    await wrap(() => Deno.lstat(realFrom), from);
    const realTo = await this.#creatable(to);
    await wrap(() => Deno.rename(realFrom, realTo), to);
  }

  async setModifiedTime(path: string, time: Date): Promise<void> {
    const real = await this.#existing(path);
    const info = await wrap(() => Deno.stat(real), path);
    await wrap(() => Deno.utime(real, info.atime ?? time, time), path);
  }

  async chmod(path: string, mode: number): Promise<void> {
    const real = await this.#existing(path);
    if (mode & ~0o777) {
      throw new StorageError("permission_denied", "Only permission bits 0777 can be set");
    }
    await wrap(() => Deno.chmod(real, mode), path);
  }

  #realRootPath(): Promise<string> {
    this.#realRoot ??= Deno.realPath(this.#root).catch((error) => {
      this.#realRoot = undefined;
      throw mapError(error, "/");
    });
    return this.#realRoot;
  }

  /** The real path of an existing virtual path, through symlinks, inside the root. */
  async #existing(path: string): Promise<string> {
    const root = await this.#realRootPath();
    const real = await wrap(() => Deno.realPath(realPathLib.join(root, path)), path);
    if (!isInside(root, real)) throw escaped(path);
    return real;
  }

  /** Stat a possibly missing target; a symlink must resolve inside the root. */
  async #statThroughLinks(real: string, path: string): Promise<Deno.FileInfo | undefined> {
    const link = await Deno.lstat(real).catch(() => undefined);
    if (!link?.isSymlink) return link;
    const resolved = await Deno.realPath(real).catch(() => undefined);
    if (resolved === undefined) return undefined; // dangling: replaced by the upload
    if (!isInside(await this.#realRootPath(), resolved)) throw escaped(path);
    return await Deno.stat(resolved);
  }

  /**
   * The real path for a name to create, remove or rename: its parent folder
   * is resolved through symlinks and must be inside the root; the last segment
   * itself is not followed (a link is replaced or removed, never written through).
   */
  async #creatable(path: string): Promise<string> {
    if (path === "/") return await this.#realRootPath();
    const parent = await this.#existing(realPathLib.posix.dirname(path));
    return realPathLib.join(parent, realPathLib.posix.basename(path));
  }
}

function escaped(path: string): StorageError {
  return new StorageError("permission_denied", `"${path}" points outside the served folder`);
}

function isInside(root: string, real: string): boolean {
  return real === root ||
    real.startsWith(root.endsWith(realPathLib.sep) ? root : root + realPathLib.sep);
}

function baseNameOf(path: string): string {
  return path === "/" ? "" : realPathLib.posix.basename(path);
}

function toFileInfo(name: string, info: Deno.FileInfo): FileInfo {
  return {
    name,
    type: info.isDirectory ? "directory" : "file",
    size: info.isDirectory ? 0 : info.size,
    mtime: info.mtime ?? undefined,
    mode: info.mode === null ? undefined : info.mode & 0o7777,
  };
}

/** Copy a stream into a file with one reused buffer (much faster than pipeTo here). */
async function copyInto(
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

async function wrap<T>(action: () => Promise<T>, path: string): Promise<T> {
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
function mapError(error: unknown, path: string): unknown {
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
