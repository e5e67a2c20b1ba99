/**
 * Virtual folders: a user's home storage with other storages mounted into
 * its tree (`/archive` from an S3 bucket while `/` is a local folder). Works
 * over any connectors, since it only routes virtual paths.
 *
 * Decided here: a rename across two storages is refused (550, "can't move
 * across mounted folders"), never copied — a copy of a big folder would
 * hold the control connection for minutes and could fail half-way; the
 * client can download and upload instead. A mount point itself can't be
 * removed, renamed, replaced or created: it belongs to the profile.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { baseName } from "../paths.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "../storage/types.ts";
import { deepestFolder } from "./permissions.ts";

/** One storage mounted at a virtual folder. */
export interface Mount {
  /** Where it appears (a clean absolute path other than `/`). */
  readonly path: string;
  /** What is there. */
  readonly storage: StorageConnector;
  /**
   * Opened for this session (a per-user provider): closed with it. A
   * connector shared by every session is not.
   */
  readonly owned?: boolean;
}

interface Route {
  readonly storage: StorageConnector;
  /** The mount's path (`/` for the home storage). */
  readonly at: string;
  /** The path inside that storage. */
  readonly inner: string;
}

const FOLDER = (name: string): FileInfo => ({ name, type: "directory", size: 0 });

/**
 * The home storage with `mounts` over it: paths below a mount go to its
 * storage; listings of a folder show the mount points in it as folders
 * (hiding a home entry of the same name); folders on the way to a mount
 * point exist even when the home storage has none.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../storage/memory.ts";
 * import { MountStorage } from "./mounts.ts";
 * const storage = new MountStorage(new MemoryStorage(), [
 *   { path: "/archive", storage: new MemoryStorage() },
 * ]);
 * const names = (await Array.fromAsync(storage.list("/"))).map((entry) => entry.name);
 * console.assert(names.includes("archive"));
 * ```
 */
export class MountStorage implements StorageConnector {
  readonly #home: StorageConnector;
  readonly #mounts: ReadonlyMap<string, StorageConnector>;
  readonly #owned: readonly StorageConnector[];
  /** Set the modification time (present when any of the storages has it). */
  readonly setModifiedTime?: (path: string, time: Date) => Promise<void>;
  /** Change permission bits (present when any of the storages has it). */
  readonly chmod?: (path: string, mode: number) => Promise<void>;
  /** The kept checksum (present when any of the storages has it; undefined from one without). */
  readonly checksum?: StorageConnector["checksum"];

  /** Mount `mounts` over `home`. */
  constructor(home: StorageConnector, mounts: readonly Mount[]) {
    this.#home = home;
    this.#mounts = new Map(mounts.map((mount) => [mount.path, mount.storage]));
    this.#owned = [home, ...mounts.filter((mount) => mount.owned).map((mount) => mount.storage)];
    const all = [home, ...this.#mounts.values()];
    if (all.some((storage) => storage.setModifiedTime)) {
      this.setModifiedTime = (path, time) => {
        const { storage, inner } = this.#route(path);
        if (!storage.setModifiedTime) return unsupported("setting modification times", path);
        return storage.setModifiedTime(inner, time);
      };
    }
    if (all.some((storage) => storage.chmod)) {
      this.chmod = (path, mode) => {
        if (this.#mounts.has(path)) return mountPoint(path, "change its mode");
        const { storage, inner } = this.#route(path);
        if (!storage.chmod) return unsupported("permission bits", path);
        return storage.chmod(inner, mode);
      };
    }
    if (all.some((storage) => storage.checksum)) {
      this.checksum = (path, algorithm) => {
        const { storage, inner } = this.#route(path);
        return storage.checksum ? storage.checksum(inner, algorithm) : Promise.resolve(undefined);
      };
    }
  }

  #route(path: string): Route {
    const at = deepestFolder(this.#mounts.keys(), path);
    if (at === undefined || at === "/") return { storage: this.#home, at: "/", inner: path };
    return { storage: this.#mounts.get(at)!, at, inner: path.slice(at.length) || "/" };
  }

  /** The names of the mount points directly inside `folder`, and folders leading to deeper ones. */
  #mountedNames(folder: string): Set<string> {
    const prefix = folder === "/" ? "/" : folder + "/";
    const names = new Set<string>();
    for (const mount of this.#mounts.keys()) {
      if (mount.startsWith(prefix)) names.add(mount.slice(prefix.length).split("/")[0]);
    }
    return names;
  }

  /** Whether `path` is a folder on the way to a mount point (in the home storage). */
  #leadsToMount(path: string): boolean {
    return this.#route(path).at === "/" && this.#mountedNames(path).size > 0;
  }

  async stat(path: string): Promise<FileInfo> {
    const { storage, inner, at } = this.#route(path);
    if (at !== "/" && inner === "/") {
      const info = await storage.stat("/");
      return { ...info, name: baseName(path), type: "directory" };
    }
    try {
      return await storage.stat(inner);
    } catch (error) {
      if (this.#leadsToMount(path) && isKind(error, "not_found")) return FOLDER(baseName(path));
      throw error;
    }
  }

  async *list(path: string): AsyncIterable<FileInfo> {
    const { storage, inner } = this.#route(path);
    const mounted = this.#route(path).at === "/" ? this.#mountedNames(path) : new Set<string>();
    let entries: AsyncIterable<FileInfo> | undefined = storage.list(inner);
    if (mounted.size > 0) {
      // A folder that exists only as the way to a mount point lists just that.
      try {
        await storage.stat(inner);
      } catch (error) {
        if (!isKind(error, "not_found")) throw error;
        entries = undefined;
      }
    }
    if (entries) {
      for await (const entry of entries) {
        if (!mounted.has(entry.name)) yield entry;
      }
    }
    for (const name of [...mounted].sort()) yield FOLDER(name);
  }

  read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
    const { storage, inner } = this.#route(path);
    return storage.read(inner, options);
  }

  async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options?: WriteOptions,
  ): Promise<number> {
    if (this.#isMountPointOrAbove(path)) {
      await source.cancel().catch(() => {});
      return mountPoint(path, "store over it");
    }
    const { storage, inner } = this.#route(path);
    return storage.write(inner, source, options);
  }

  mkdir(path: string): Promise<void> {
    if (this.#isMountPointOrAbove(path)) {
      return Promise.reject(new StorageError("already_exists", `${path} already exists`));
    }
    const { storage, inner } = this.#route(path);
    return storage.mkdir(inner);
  }

  rmdir(path: string): Promise<void> {
    if (this.#isMountPointOrAbove(path)) return mountPoint(path, "remove it");
    const { storage, inner } = this.#route(path);
    return storage.rmdir(inner);
  }

  remove(path: string): Promise<void> {
    if (this.#isMountPointOrAbove(path)) return mountPoint(path, "delete it");
    const { storage, inner } = this.#route(path);
    return storage.remove(inner);
  }

  rename(from: string, to: string): Promise<void> {
    if (this.#isMountPointOrAbove(from)) return mountPoint(from, "rename it");
    if (this.#isMountPointOrAbove(to)) return mountPoint(to, "rename over it");
    const source = this.#route(from);
    const target = this.#route(to);
    if (source.at !== target.at) {
      return Promise.reject(
        new StorageError(
          "permission_denied",
          `Can't move across mounted folders (${from} and ${to} are on different storage); ` +
            "download and upload instead",
        ),
      );
    }
    return source.storage.rename(source.inner, target.inner);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#owned.map((storage) => storage.close?.()));
  }

  /** A mount point, or a home folder leading to one (removing it would hide the mount). */
  #isMountPointOrAbove(path: string): boolean {
    return this.#mounts.has(path) || this.#leadsToMount(path);
  }
}

function isKind(error: unknown, kind: StorageError["kind"]): boolean {
  return error instanceof StorageError && error.kind === kind;
}

function mountPoint(path: string, what: string): Promise<never> {
  return Promise.reject(
    new StorageError(
      "permission_denied",
      `Can't ${what}: ${path} is a mounted folder, or holds one`,
    ),
  );
}

function unsupported(what: string, path: string): Promise<never> {
  return Promise.reject(
    new StorageError("permission_denied", `The storage of ${path} has no ${what}`),
  );
}
