/**
 * The `memory` connector: a complete file tree held in the process, for tests
 * and demos. Nothing is persisted; every instance is its own tree.
 *
 * @module
 */

import type { ChecksumAlgorithm } from "../checksums/algorithms.ts";
import { StorageError } from "../errors.ts";
import { baseName, parentPath } from "../paths.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "./types.ts";

/** Options of {@linkcode MemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * Total bytes the files may hold; a write that would exceed it fails with
   * `storage_full` (to exercise 452/552 replies).
   * @default {Infinity}
   */
  maxBytes?: number;
}

interface FileNode {
  type: "file";
  data: Uint8Array;
  mtime: Date;
  mode: number;
  /** The upload's checksums, valid while `data` is the array they were computed for. */
  checksums?: { of: Uint8Array; digests: Partial<Record<ChecksumAlgorithm, string>> };
}

interface DirectoryNode {
  type: "directory";
  children: Map<string, Node>;
  mtime: Date;
  mode: number;
}

type Node = FileNode | DirectoryNode;

const READ_CHUNK_BYTES = 64 * 1024;

/**
 * Files and folders in memory, with modification times and permission bits.
 * Writes collect the whole stream first and replace the file only when the
 * stream ended cleanly, so a broken upload leaves the previous file intact.
 *
 * @example
 * ```ts
 * import { FtpServer, MemoryStorage, PassthroughAuthenticator } from "@exftp/server";
 *
 * const storage = new MemoryStorage();
 * await storage.mkdir("/incoming");
 * await using server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage,
 * });
 * ```
 */
export class MemoryStorage implements StorageConnector {
  readonly #root: DirectoryNode = {
    type: "directory",
    children: new Map(),
    mtime: new Date(),
    mode: 0o755,
  };
  readonly #maxBytes: number;
  #usedBytes = 0;

  /** An empty tree. */
  constructor(options: MemoryStorageOptions = {}) {
    this.#maxBytes = options.maxBytes ?? Infinity;
  }

  /** Bytes held by all files together. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  stat(path: string): Promise<FileInfo> {
    try {
      return Promise.resolve(toFileInfo(baseName(path), this.#find(path)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async *list(path: string): AsyncIterable<FileInfo> {
    const node = this.#find(path);
    if (node.type !== "directory") {
      throw new StorageError("not_a_directory", `"${path}" is not a folder`);
    }
    // A snapshot: the listing is not disturbed by changes made while it streams.
    for (const [name, child] of [...node.children]) yield toFileInfo(name, child);
  }

  read(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    let node: Node;
    try {
      node = this.#find(path);
    } catch (error) {
      return Promise.reject(error);
    }
    if (node.type !== "file") {
      return Promise.reject(new StorageError("is_a_directory", `"${path}" is a folder`));
    }
    const data = node.data; // replaced, never mutated: a stable snapshot
    let offset = Math.min(options.offset ?? 0, data.length);
    const signal = options.signal;
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (signal?.aborted) {
            controller.error(signal.reason);
            return;
          }
          if (offset >= data.length) {
            controller.close();
            return;
          }
          const end = Math.min(offset + READ_CHUNK_BYTES, data.length);
          controller.enqueue(data.slice(offset, end));
          offset = end;
        },
      }, { highWaterMark: 0 }),
    );
  }

  async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<number> {
    const position = options.position ?? "truncate";
    const name = baseName(path);
    let reserved: FileNode | undefined;
    let existingBytes = 0;
    try {
      const parent = this.#parentOf(path);
      const existing = parent.children.get(name);
      if (existing?.type === "directory") {
        throw new StorageError("is_a_directory", `"${path}" is a folder`);
      }
      existingBytes = existing?.data.length ?? 0;
      if (options.exclusive) {
        if (existing) throw new StorageError("already_exists", `"${path}" already exists`);
        // Take the name now: a second exclusive writer sees it at once.
        reserved = { type: "file", data: new Uint8Array(), mtime: new Date(), mode: 0o644 };
        parent.children.set(name, reserved);
        parent.mtime = new Date();
      }
    } catch (error) {
      await source.cancel(error).catch(() => {});
      throw error;
    }

    let received: Uint8Array;
    try {
      // An early bound only (a replaced file frees its bytes); the commit checks exactly.
      const budget = this.#maxBytes - this.#usedBytes + existingBytes;
      received = await collect(source, options.signal, budget);
    } catch (error) {
      this.#dropReservation(path, reserved);
      throw error;
    }

    // Commit: re-resolve, since the tree may have changed while the data came in.
    try {
      const parent = this.#parentOf(path);
      const current = parent.children.get(name);
      if (current?.type === "directory") {
        throw new StorageError("is_a_directory", `"${path}" is a folder`);
      }
      const before = current?.data ?? new Uint8Array();
      let data: Uint8Array;
      if (position === "truncate") {
        data = received;
      } else {
        const keep = position === "append" ? before.length : position;
        data = new Uint8Array(keep + received.length);
        data.set(before.subarray(0, Math.min(keep, before.length)));
        data.set(received, keep);
      }
      const growth = data.length - before.length;
      if (this.#usedBytes + growth > this.#maxBytes) {
        throw new StorageError("storage_full", `No space left for "${path}"`);
      }
      this.#usedBytes += growth;
      const now = new Date();
      const digests = position === "truncate" ? options.checksums?.digests() : undefined;
      parent.children.set(name, {
        type: "file",
        data,
        mtime: now,
        mode: current?.mode ?? 0o644,
        checksums: digests && { of: data, digests },
      });
      if (!current) parent.mtime = now;
      return received.length;
    } catch (error) {
      this.#dropReservation(path, reserved);
      throw error;
    }
  }

  mkdir(path: string): Promise<void> {
    try {
      if (path === "/") throw new StorageError("already_exists", `"/" already exists`);
      const parent = this.#parentOf(path);
      const name = baseName(path);
      if (parent.children.has(name)) {
        throw new StorageError("already_exists", `"${path}" already exists`);
      }
      const now = new Date();
      parent.children.set(name, {
        type: "directory",
        children: new Map(),
        mtime: now,
        mode: 0o755,
      });
      parent.mtime = now;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  rmdir(path: string): Promise<void> {
    try {
      if (path === "/") throw new StorageError("permission_denied", "The root cannot be removed");
      const node = this.#find(path);
      if (node.type !== "directory") {
        throw new StorageError("not_a_directory", `"${path}" is not a folder`);
      }
      if (node.children.size > 0) throw new StorageError("not_empty", `"${path}" is not empty`);
      const parent = this.#parentOf(path);
      parent.children.delete(baseName(path));
      parent.mtime = new Date();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  remove(path: string): Promise<void> {
    try {
      const node = this.#find(path);
      if (node.type !== "file") throw new StorageError("is_a_directory", `"${path}" is a folder`);
      const parent = this.#parentOf(path);
      parent.children.delete(baseName(path));
      parent.mtime = new Date();
      this.#usedBytes -= node.data.length;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  rename(from: string, to: string): Promise<void> {
    try {
      if (from === "/" || to === "/") {
        throw new StorageError("permission_denied", "The root cannot be renamed");
      }
      const node = this.#find(from);
      if (from === to) return Promise.resolve();
      if (to.startsWith(from + "/")) {
        throw new StorageError("invalid_name", `Cannot move "${from}" into itself`);
      }
      const target = this.#parentOf(to);
      const name = baseName(to);
      const existing = target.children.get(name);
      if (existing) {
        // POSIX rename rules: a file replaces a file, a folder an empty folder.
        if (node.type === "file" && existing.type === "directory") {
          throw new StorageError("is_a_directory", `"${to}" is a folder`);
        }
        if (node.type === "directory" && existing.type === "file") {
          throw new StorageError("not_a_directory", `"${to}" is not a folder`);
        }
        if (existing.type === "directory" && existing.children.size > 0) {
          throw new StorageError("not_empty", `"${to}" is not empty`);
        }
        if (existing.type === "file") this.#usedBytes -= existing.data.length;
      }
      const source = this.#parentOf(from);
      source.children.delete(baseName(from));
      target.children.set(name, node);
      const now = new Date();
      source.mtime = now;
      target.mtime = now;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  checksum(path: string, algorithm: ChecksumAlgorithm): Promise<string | undefined> {
    try {
      const node = this.#find(path);
      if (node.type !== "file") throw new StorageError("is_a_directory", `"${path}" is a folder`);
      const kept = node.checksums;
      return Promise.resolve(kept?.of === node.data ? kept.digests[algorithm] : undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  setModifiedTime(path: string, time: Date): Promise<void> {
    try {
      this.#find(path).mtime = new Date(time);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  chmod(path: string, mode: number): Promise<void> {
    try {
      this.#find(path).mode = mode & 0o7777;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The node at `path`; `not_found` or `not_a_directory` on the way. */
  #find(path: string): Node {
    let node: Node = this.#root;
    if (path === "/") return node;
    let walked = "";
    for (const segment of path.slice(1).split("/")) {
      if (node.type !== "directory") {
        throw new StorageError("not_a_directory", `"${walked}" is not a folder`);
      }
      walked += `/${segment}`;
      const child: Node | undefined = node.children.get(segment);
      if (!child) throw new StorageError("not_found", `No such file or folder: "${path}"`);
      node = child;
    }
    return node;
  }

  /** The folder that holds `path`, which must exist and be a folder. */
  #parentOf(path: string): DirectoryNode {
    const folder = parentPath(path);
    const node = this.#find(folder);
    if (node.type !== "directory") {
      throw new StorageError("not_a_directory", `"${folder}" is not a folder`);
    }
    return node;
  }

  /** Undo an exclusive reservation after a failed write, if it is still ours. */
  #dropReservation(path: string, reserved: FileNode | undefined): void {
    if (!reserved) return;
    try {
      const parent = this.#parentOf(path);
      if (parent.children.get(baseName(path)) === reserved) parent.children.delete(baseName(path));
    } catch {
      // The folder went away meanwhile: nothing left to undo.
    }
  }
}

function toFileInfo(name: string, node: Node): FileInfo {
  return {
    name,
    type: node.type,
    size: node.type === "file" ? node.data.length : 0,
    mtime: node.mtime,
    mode: node.mode,
  };
}

/** Read a whole stream into one array, honouring the signal and a byte budget. */
async function collect(
  source: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  budget: number,
): Promise<Uint8Array> {
  signal?.throwIfAborted();
  const reader = source.getReader();
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      total += value.length;
      if (total > budget) {
        await reader.cancel().catch(() => {});
        throw new StorageError("storage_full", "No space left in memory storage");
      }
      chunks.push(value.slice()); // the sender may reuse its buffer
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return data;
}
