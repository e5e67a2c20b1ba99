/**
 * The `file` connector: a folder of the local file system, jailed to its root.
 *
 * @module
 */

import * as realPathLib from "node:path";
import type { ChecksumAlgorithm } from "../checksums/algorithms.ts";
import { StorageError } from "../errors.ts";
import { dropChecksums, keepChecksums, keptChecksum } from "./file_checksums.ts";
import { baseNameOf, copyInto, mapError, toFileInfo, wrap } from "./file_io.ts";
import {
  checkReserved,
  escaped,
  isInside,
  isUnreadableName,
  listedInParent,
  REPLACEMENT,
  TEMP_PREFIX,
} from "./file_jail.ts";
import { FileReader } from "./file_reader.ts";
import type {
  FileInfo,
  ReadOptions,
  StorageConnector,
  StorageReader,
  WriteOptions,
} from "./types.ts";

export { TEMP_PREFIX };

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
  /**
   * A temporary upload file (see {@linkcode TEMP_PREFIX}) that nothing has
   * written to for this long is an orphan of a crashed process: it is removed
   * when its folder is listed or removed. Keep it above the server's
   * `dataStallTimeoutMs`, which ends live uploads that stopped sending.
   * @default {3_600_000}
   */
  staleUploadAfterMs?: number;
}

const DEFAULT_STALE_UPLOAD_MS = 60 * 60 * 1000;
/** A synchronous lstat slower than this switches a listing to async stats. */
const SLOW_SYNC_STAT_MS = 1;

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
  readonly #staleUploadMs: number;
  #realRoot?: Promise<string>;

  /** Serve `options.root` (default: the current folder). */
  constructor(options: FileStorageOptions = {}) {
    this.#root = realPathLib.resolve(options.root ?? ".");
    this.#uploadMode = options.uploadMode ?? "atomic";
    this.#staleUploadMs = options.staleUploadAfterMs ?? DEFAULT_STALE_UPLOAD_MS;
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
    let syncStat = true;
    while (true) {
      let next: IteratorResult<Deno.DirEntry>;
      try {
        next = await iterator.next();
      } catch (error) {
        throw mapError(error, path);
      }
      if (next.done) return;
      const entry = next.value;
      // A readdir name has no "/" and is never "." or "..": no join needed.
      const child = real.endsWith("/") ? real + entry.name : real + "/" + entry.name;
      if (entry.name.startsWith(TEMP_PREFIX)) {
        await this.#removeIfOrphan(child);
        continue;
      }
      let info: Deno.FileInfo | undefined;
      try {
        if (syncStat && !entry.isSymlink) {
          // An async stat is a thread-pool round trip: measured (bench/README.md)
          // ~10–35 µs of mostly futex syscalls per entry against ~2–5 µs for
          // lstatSync, and most of a 1,000-entry LIST's CPU. For an entry that
          // is no symlink, lstat is stat. Once one call is slow (a network
          // mount), the rest of the listing goes back to async.
          const started = performance.now();
          info = Deno.lstatSync(child);
          if (performance.now() - started > SLOW_SYNC_STAT_MS) syncStat = false;
          if (info.isSymlink) info = undefined; // readdir did not know the type
        }
        if (!info) {
          if (
            (entry.isSymlink || !entry.isFile && !entry.isDirectory) &&
            !isInside(realRoot, await Deno.realPath(child))
          ) continue;
          info = await Deno.stat(child);
        }
      } catch {
        // Not valid UTF-8 on disk: shown (with U+FFFD) so it does not silently
        // vanish, though it can't be opened (see #explainMissing). A link is
        // not shown: where it points can't be checked.
        if (!entry.isSymlink && await isUnreadableName(child)) {
          yield { name: entry.name, type: entry.isDirectory ? "directory" : "file", size: 0 };
        }
        // Otherwise: vanished since it was listed, a broken link, or unreadable.
        continue;
      }
      yield toFileInfo(entry.name, info);
    }
  }

  async read(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return (await this.#openForReading(path, options)).file.readable;
  }

  /** RETR's fast path: see {@linkcode FileReader}. */
  async openReader(path: string, options: ReadOptions = {}): Promise<StorageReader> {
    const { file, info } = await this.#openForReading(path, options);
    return new FileReader(file, path, info.isFile);
  }

  async #openForReading(
    path: string,
    options: ReadOptions,
  ): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
    const real = await this.#existing(path);
    // Opening a FIFO blocks until a writer comes (for ever, in a session no ABOR
    // reaches): only folders and regular files are opened.
    const kind = await wrap(() => Deno.stat(real), path);
    if (!kind.isFile && !kind.isDirectory) {
      throw new StorageError("permission_denied", `"${path}" is not a regular file`);
    }
    const file = await wrap(() => Deno.open(real, { read: true }), path);
    try {
      const info = await file.stat();
      if (info.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
      if (options.offset) await file.seek(options.offset, Deno.SeekMode.Start);
      return { file, info };
    } catch (error) {
      file.close();
      throw mapError(error, path);
    }
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
        const written = await copyInto(source, file, options.signal);
        const digests = position === "truncate" ? options.checksums?.digests() : undefined;
        if (digests) await keepChecksums(await this.#realRootPath(), await file.stat(), digests);
        return written;
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
      const digests = position === "truncate" ? options.checksums?.digests() : undefined;
      const before = digests && await file.stat();
      file.close();
      file = undefined;
      await Deno.rename(temp, target);
      // The replaced file's record would be an orphan (its inode is gone).
      if (existing?.isFile && existing.nlink === 1) {
        await dropChecksums(await this.#realRootPath(), existing);
      }
      if (digests && before) await this.#keepChecksums(target, before, digests);
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

  /**
   * Remove the named empty folder, and nothing else: a symlink is not a
   * folder here (like rmdir(2), which vsftpd and ProFTPD call), even when it
   * points to one; `remove` deletes the link itself.
   */
  async rmdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("permission_denied", "The root cannot be removed");
    const real = await this.#creatable(path);
    const info = await this.#lstat(real, path);
    if (info.isSymlink) {
      throw new StorageError(
        "not_a_directory",
        `"${path}" is a symbolic link, not a folder (DELE removes the link)`,
      );
    }
    if (!info.isDirectory) throw new StorageError("not_a_directory", `"${path}" is not a folder`);
    try {
      await Deno.remove(real);
    } catch (error) {
      const mapped = mapError(error, path);
      if (!(mapped instanceof StorageError && mapped.kind === "not_empty")) throw mapped;
      // Orphaned temporary files are invisible: remove them and try again, or
      // say what the client can't see.
      const reason = await this.#whyNotEmpty(real, path);
      if (reason) throw reason;
      await wrap(() => Deno.remove(real), path);
    }
  }

  async remove(path: string): Promise<void> {
    const real = await this.#creatable(path);
    const info = await this.#lstat(real, path);
    if (info.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
    await wrap(() => Deno.remove(real), path);
    if (info.isFile && info.nlink === 1) await dropChecksums(await this.#realRootPath(), info);
  }

  async rename(from: string, to: string): Promise<void> {
    if (from === "/" || to === "/") {
      throw new StorageError("permission_denied", "The root cannot be renamed");
    }
    const realFrom = await this.#creatable(from);
    await this.#lstat(realFrom, from);
    const realTo = await this.#creatable(to);
    const replaced = await Deno.lstat(realTo).catch(() => undefined);
    await wrap(() => Deno.rename(realFrom, realTo), to);
    if (replaced?.isFile && replaced.nlink === 1) {
      await dropChecksums(await this.#realRootPath(), replaced);
    }
  }

  /** The checksum kept by an upload, while the file is unchanged (see `file_checksums.ts`). */
  async checksum(path: string, algorithm: ChecksumAlgorithm): Promise<string | undefined> {
    const real = await this.#existing(path);
    const info = await wrap(() => Deno.stat(real), path);
    if (info.isDirectory) throw new StorageError("is_a_directory", `"${path}" is a folder`);
    return await keptChecksum(await this.#realRootPath(), info, algorithm);
  }

  async setModifiedTime(path: string, time: Date): Promise<void> {
    const real = await this.#existing(path);
    const info = await wrap(() => Deno.stat(real), path);
    await wrap(() => Deno.utime(real, info.atime ?? time, time), path);
  }

  async chmod(path: string, mode: number): Promise<void> {
    if (path === "/") {
      throw new StorageError("permission_denied", "The root's permissions cannot be changed");
    }
    const real = await this.#existing(path);
    if (mode & ~0o777) {
      throw new StorageError("permission_denied", "Only permission bits 0777 can be set");
    }
    await wrap(() => Deno.chmod(real, mode), path);
  }

  /**
   * Keep an upload's checksums once it has its final name, for the file as it
   * is then, and only if it is still what was written (`before`: its state
   * just before the rename) — not if someone changed it in between.
   */
  async #keepChecksums(
    target: string,
    before: Deno.FileInfo,
    digests: Partial<Record<ChecksumAlgorithm, string>>,
  ): Promise<void> {
    const after = await Deno.lstat(target).catch(() => undefined);
    if (
      !after?.isFile || after.ino !== before.ino || after.size !== before.size ||
      after.mtime?.getTime() !== before.mtime?.getTime()
    ) return;
    await keepChecksums(await this.#realRootPath(), after, digests);
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
    checkReserved(path);
    const root = await this.#realRootPath();
    let real: string;
    try {
      real = await Deno.realPath(realPathLib.join(root, path));
    } catch (error) {
      throw await this.#explainMissing(error, path);
    }
    if (!isInside(root, real)) throw escaped(path);
    return real;
  }

  /** lstat a path made by #creatable (the last segment not followed). */
  async #lstat(real: string, path: string): Promise<Deno.FileInfo> {
    try {
      return await Deno.lstat(real);
    } catch (error) {
      throw await this.#explainMissing(error, path);
    }
  }

  /**
   * A path not found may name an entry whose name on disk is not valid
   * UTF-8: Deno sees such names only with U+FFFD in place of the bad bytes and
   * can't open them. Say so, instead of "no such file" for a listed name.
   */
  async #explainMissing(error: unknown, path: string): Promise<unknown> {
    const mapped = mapError(error, path);
    if (!(mapped instanceof StorageError && mapped.kind === "not_found")) return mapped;
    if (!path.includes(REPLACEMENT)) return mapped;
    const root = await this.#realRootPath();
    let prefix = "";
    for (const segment of path.slice(1).split("/")) {
      prefix += `/${segment}`;
      if (!segment.includes(REPLACEMENT)) continue;
      const real = realPathLib.join(root, prefix);
      const parent = await Deno.realPath(realPathLib.dirname(real)).catch(() => undefined);
      if (parent === undefined || !isInside(root, parent)) return mapped;
      if (await isUnreadableName(real) && await listedInParent(real)) {
        return new StorageError(
          "not_found",
          `"${prefix}" can't be opened: its name on disk is not valid UTF-8 ` +
            `(listings show the bad bytes as U+FFFD); rename it on the server`,
          { cause: error },
        );
      }
    }
    return mapped;
  }

  /** Remove a temporary upload file nothing has written to for too long. */
  async #removeIfOrphan(real: string): Promise<boolean> {
    const info = await Deno.lstat(real).catch(() => undefined);
    if (!info?.isFile || !info.mtime) return false;
    if (Date.now() - info.mtime.getTime() < this.#staleUploadMs) return false;
    return await Deno.remove(real).then(() => true, () => false);
  }

  /**
   * Why a folder that rmdir(2) found not empty can't be removed, after
   * removing its orphaned temporary files; undefined when nothing is left.
   */
  async #whyNotEmpty(real: string, path: string): Promise<StorageError | undefined> {
    let visible = 0;
    let uploads = 0;
    let unreadable = 0;
    try {
      for await (const entry of Deno.readDir(real)) {
        const child = realPathLib.join(real, entry.name);
        if (entry.name.startsWith(TEMP_PREFIX)) {
          if (!(await this.#removeIfOrphan(child))) uploads++;
        } else if (await isUnreadableName(child)) {
          unreadable++;
        } else {
          visible++;
        }
      }
    } catch (error) {
      return mapError(error, path) as StorageError;
    }
    if (visible + uploads + unreadable === 0) return undefined;
    let text = `Folder not empty: "${path}"`;
    if (unreadable > 0 && visible === 0) {
      text += ` holds ${unreadable} name(s) that are not valid UTF-8 on disk ` +
        `(listed with U+FFFD); they can't be removed over FTP`;
    } else if (uploads > 0 && visible === 0 && unreadable === 0) {
      text += ": an upload into it is in progress";
    }
    return new StorageError("not_empty", text);
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
    checkReserved(path);
    if (path === "/") return await this.#realRootPath();
    const parent = await this.#existing(realPathLib.posix.dirname(path));
    return realPathLib.join(parent, realPathLib.posix.basename(path));
  }
}
