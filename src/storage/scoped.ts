/**
 * A view of a connector below one folder: what a user with a `home` sees as
 * `/`. Works over any connector, since it only rewrites virtual paths.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { resolveVirtualPath } from "../paths.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "./types.ts";

/** `inner` seen from `home` (a clean absolute virtual path other than `/`). */
export class ScopedStorage implements StorageConnector {
  readonly #inner: StorageConnector;
  readonly #home: string;
  /** Set the modification time (present when the inner connector has it). */
  readonly setModifiedTime?: (path: string, time: Date) => Promise<void>;
  /** Change permission bits (present when the inner connector has it). */
  readonly chmod?: (path: string, mode: number) => Promise<void>;
  /** The kept checksum (present when the inner connector has it). */
  readonly checksum?: StorageConnector["checksum"];
  /** RETR's fast path (present when the inner connector has it). */
  readonly openReader?: StorageConnector["openReader"];

  /** Scope `inner` to `home`. */
  constructor(inner: StorageConnector, home: string) {
    this.#inner = inner;
    this.#home = home;
    if (inner.setModifiedTime) {
      this.setModifiedTime = (path, time) => inner.setModifiedTime!(this.#map(path), time);
    }
    if (inner.checksum) {
      this.checksum = (path, algorithm) => inner.checksum!(this.#map(path), algorithm);
    }
    if (inner.openReader) {
      this.openReader = (path, options) => inner.openReader!(this.#map(path), options);
    }
    if (inner.chmod) {
      this.chmod = (path, mode) =>
        path === "/"
          ? Promise.reject(
            new StorageError(
              "permission_denied",
              "The home folder's permissions cannot be changed",
            ),
          )
          : inner.chmod!(this.#map(path), mode);
    }
  }

  #map(path: string): string {
    return path === "/" ? this.#home : this.#home + path;
  }

  async stat(path: string): Promise<FileInfo> {
    const info = await this.#inner.stat(this.#map(path));
    return path === "/" ? { ...info, name: "" } : info;
  }

  list(path: string): AsyncIterable<FileInfo> {
    return this.#inner.list(this.#map(path));
  }

  read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
    return this.#inner.read(this.#map(path), options);
  }

  write(path: string, source: ReadableStream<Uint8Array>, options?: WriteOptions): Promise<number> {
    return this.#inner.write(this.#map(path), source, options);
  }

  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(this.#map(path));
  }

  rmdir(path: string): Promise<void> {
    if (path === "/") {
      return Promise.reject(new StorageError("permission_denied", "The root cannot be removed"));
    }
    return this.#inner.rmdir(this.#map(path));
  }

  remove(path: string): Promise<void> {
    return this.#inner.remove(this.#map(path));
  }

  rename(from: string, to: string): Promise<void> {
    if (from === "/" || to === "/") {
      return Promise.reject(new StorageError("permission_denied", "The root cannot be renamed"));
    }
    return this.#inner.rename(this.#map(from), this.#map(to));
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}

/**
 * Scope a connector to a user's home folder, creating the folder (and its
 * parents) when missing. `home` is a path inside the storage; `..` cannot
 * leave it.
 */
export async function scopeToHome(
  connector: StorageConnector,
  home: string,
): Promise<StorageConnector> {
  const clean = resolveVirtualPath("/", home);
  if (clean === "/") return connector;
  let prefix = "";
  for (const segment of clean.slice(1).split("/")) {
    prefix += `/${segment}`;
    try {
      await connector.mkdir(prefix);
    } catch (error) {
      if (!(error instanceof StorageError && error.kind === "already_exists")) throw error;
    }
  }
  const info = await connector.stat(clean);
  if (info.type !== "directory") {
    throw new StorageError("not_a_directory", `Home "${clean}" is not a folder`);
  }
  return new ScopedStorage(connector, clean);
}
