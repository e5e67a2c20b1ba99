/**
 * The storage connector interface: everything the server needs from a tree of
 * files. Paths are virtual: absolute, normalised POSIX paths such as
 * `/a/b.txt`, never relative and never containing `..`.
 *
 * @module
 */

import type { FtpUser } from "../auth/types.ts";
import type { ChecksumAlgorithm } from "../checksums/algorithms.ts";

/** What a path is. */
export type FileType = "file" | "directory";

/** Facts about one file or folder. */
export interface FileInfo {
  /** The last path segment (`""` for the root). */
  name: string;
  /** File or folder. */
  type: FileType;
  /** Size in bytes (0 for folders when unknown). */
  size: number;
  /** Last modification time, when the backend knows it. */
  mtime?: Date;
  /** POSIX permission bits (e.g. `0o644`), when the backend has them. */
  mode?: number;
}

/** Options of {@linkcode StorageConnector.read}. */
export interface ReadOptions {
  /** Byte offset to start at (REST). @default {0} */
  offset?: number;
  /** Aborts the read (ABOR, client gone). */
  signal?: AbortSignal;
}

/**
 * A file opened by {@linkcode StorageConnector.openReader}: its bytes read
 * into the caller's buffers, from the offset it was opened at.
 */
export interface StorageReader {
  /**
   * Read up to `buffer.length` bytes into `buffer`: how many, or `null` at the
   * end of the file. The caller reuses `buffer` once the promise settled, so
   * nothing may be written into it after that. Failures are
   * {@linkcode StorageError}s, as for a stream from `read`.
   */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Release the file; may be called more than once, and while a read is pending. */
  close(): void;
}

/** Options of {@linkcode StorageConnector.write}. */
export interface WriteOptions {
  /**
   * Where the data goes: `truncate` replaces the file, `append` adds to its end,
   * and a number writes from that offset and drops what followed (REST + STOR).
   * @default {"truncate"}
   */
  position?: "truncate" | "append" | number;
  /**
   * Fail with `already_exists` when the target exists, deciding atomically
   * (STOU reserves names this way, so two sessions never get the same name).
   * @default {false}
   */
  exclusive?: boolean;
  /** Aborts the write; the connector must then leave the previous file intact. */
  signal?: AbortSignal;
  /**
   * The upload's checksums, computed while it streams (given only when the
   * write replaces the whole file). `digests()` is final once `source` has
   * ended: a connector with {@linkcode StorageConnector.checksum} keeps them
   * with the stored file, so that they need not be computed again.
   */
  checksums?: UploadChecksums;
}

/** The checksums of an upload (see {@linkcode WriteOptions.checksums}). */
export interface UploadChecksums {
  /** Lowercase hex digests of every byte of `source`, by algorithm; call after it ended. */
  digests(): Partial<Record<ChecksumAlgorithm, string>>;
}

/**
 * One session's access to one tree of files.
 *
 * Errors are {@linkcode StorageError}s with a `kind`; anything else becomes a
 * generic local error. Optional methods that a connector lacks make the
 * matching FTP commands reply 502 and vanish from FEAT. The built-in
 * connectors are `FileStorage`, `MemoryStorage` and `S3Storage`; a new one
 * should pass `runConformance` from `@exftp/server/testing`.
 *
 * @example A read-only connector serving one generated file
 * ```ts
 * import {
 *   type FileInfo,
 *   FtpServer,
 *   PassthroughAuthenticator,
 *   type ReadOptions,
 *   type StorageConnector,
 *   StorageError,
 * } from "@exftp/server";
 *
 * class MotdStorage implements StorageConnector {
 *   readonly #text = new TextEncoder().encode("Welcome!\n");
 *   readonly #file: FileInfo = { name: "motd.txt", type: "file", size: this.#text.length };
 *
 *   stat(path: string): Promise<FileInfo> {
 *     if (path === "/") return Promise.resolve({ name: "", type: "directory", size: 0 });
 *     if (path === "/motd.txt") return Promise.resolve(this.#file);
 *     return Promise.reject(new StorageError("not_found", `${path} does not exist`));
 *   }
 *   async *list(path: string): AsyncIterable<FileInfo> {
 *     if ((await this.stat(path)).type !== "directory") {
 *       throw new StorageError("not_a_directory", `${path} is not a folder`);
 *     }
 *     yield this.#file;
 *   }
 *   async read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
 *     if ((await this.stat(path)).type !== "file") {
 *       throw new StorageError("is_a_directory", `${path} is a folder`);
 *     }
 *     return new Blob([this.#text.slice(options?.offset ?? 0)]).stream();
 *   }
 *   // Everything that would change the tree is refused (FTP reply 550).
 *   async write(_path: string, source: ReadableStream<Uint8Array>): Promise<number> {
 *     await source.cancel();
 *     throw new StorageError("permission_denied", "read-only");
 *   }
 *   mkdir(): Promise<void> {
 *     return Promise.reject(new StorageError("permission_denied", "read-only"));
 *   }
 *   rmdir(): Promise<void> {
 *     return Promise.reject(new StorageError("permission_denied", "read-only"));
 *   }
 *   remove(): Promise<void> {
 *     return Promise.reject(new StorageError("permission_denied", "read-only"));
 *   }
 *   rename(): Promise<void> {
 *     return Promise.reject(new StorageError("permission_denied", "read-only"));
 *   }
 * }
 *
 * const storage = new MotdStorage();
 * const names = (await Array.fromAsync(storage.list("/"))).map((entry) => entry.name);
 * console.assert(names.join() === "motd.txt");
 *
 * await using server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage,
 * });
 * ```
 */
export interface StorageConnector {
  /** Facts about a path; `not_found` when it does not exist. */
  stat(path: string): Promise<FileInfo>;
  /** The entries of a folder, streamed (huge folders need not fit in memory). */
  list(path: string): AsyncIterable<FileInfo>;
  /** A stream of a file's bytes from an offset. */
  read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * The same bytes as {@linkcode read}, with the same errors, read into the
   * server's own buffers instead of through a stream: RETR's fast path (a
   * binary download takes it when the connector has it). Optional: a
   * connector that can't read into a caller's buffer leaves it out, and so do
   * wrappers that change or meter what is read (bandwidth limits, mounts).
   */
  openReader?(path: string, options?: ReadOptions): Promise<StorageReader>;
  /**
   * Store a stream as a file. Resolves with the number of bytes written once
   * they are really stored; rejects (and keeps the previous file) when the
   * source errors or the signal aborts.
   */
  write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options?: WriteOptions,
  ): Promise<number>;
  /** Create a folder; `already_exists` if it exists. */
  mkdir(path: string): Promise<void>;
  /** Remove an empty folder; `not_empty` otherwise. */
  rmdir(path: string): Promise<void>;
  /** Remove a file. */
  remove(path: string): Promise<void>;
  /** Rename or move a file or folder. */
  rename(from: string, to: string): Promise<void>;
  /** Set a file's modification time (MFMT), when supported. */
  setModifiedTime?(path: string, time: Date): Promise<void>;
  /** Change permission bits (SITE CHMOD), when supported. */
  chmod?(path: string, mode: number): Promise<void>;
  /**
   * The checksum kept with a file (see {@linkcode WriteOptions.checksums}),
   * or undefined when none is known for its current content. Never a stale
   * value: one kept for earlier content, or before the file was changed
   * behind the server's back, is not returned. `not_found` and
   * `is_a_directory` as {@linkcode read}. Without this method (or when it
   * resolves undefined) the server computes the checksum by reading the file.
   */
  checksum?(path: string, algorithm: ChecksumAlgorithm): Promise<string | undefined>;
  /** Release resources when the session ends. */
  close?(): void | Promise<void>;
}

/**
 * Where sessions get their storage: one connector shared by every session, or
 * a function that opens one per logged-in user (to scope storage by user).
 */
export type StorageProvider =
  | StorageConnector
  | ((user: FtpUser) => StorageConnector | Promise<StorageConnector>);
