/**
 * The {@linkcode S3Storage} connector: ties the bucket, listing, read, write
 * and rename steps of the other files in this folder to the
 * {@linkcode StorageConnector} contract.
 *
 * @module
 */

import type { ChecksumAlgorithm } from "../../checksums/algorithms.ts";
import { StorageError } from "../../errors.ts";
import { baseName, parentPath } from "../../paths.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "../types.ts";
import { S3Bucket } from "./bucket.ts";
import { keptChecksum } from "./checksums.ts";
import { notFound } from "./errors.ts";
import { normalizePrefix } from "./keys.ts";
import {
  keepFolder,
  listFolder,
  listPage,
  probeFolder,
  putFolderMarker,
  requireFolder,
} from "./listing.ts";
import { deleteObject, headObject } from "./objects.ts";
import { makeShared, type S3StorageOptions, type Shared } from "./options.ts";
import { readObject } from "./reads.ts";
import { renameEntry } from "./renames.ts";
import {
  discardKeptUpload,
  findKeptUpload,
  keptUploadShows,
  sweepAbandonedUploads,
  type SweepResult,
} from "./resume.ts";
import { writeObject } from "./writes.ts";

const CHECK_TIMEOUT_MS = 10_000;

/** Options objects made by `forPrefix`, with the state their view shares. */
const viewsOf = new WeakMap<S3StorageOptions, Shared>();

/**
 * Serves a bucket (or a prefix of one) over FTP.
 *
 * Uploads stream as multipart uploads with bounded memory and become visible
 * only once complete; a failed or aborted upload is aborted on the store, so
 * no parts are left behind. Appending and writing at an offset rebuild the
 * object from the stored bytes plus the new ones (objects cannot be edited
 * in place), streaming both. Renames copy and delete (folders: every key
 * below them). Modification times come from the store and cannot be set.
 *
 * With `uploadMode: "atomic_resume"` a broken upload keeps its stored parts
 * instead: `stat` (SIZE, MLST) shows it as a file of the bytes that can be
 * resumed, an append or a write at that offset goes on from them, and
 * `remove` discards them (see `resume.ts`).
 *
 * @example
 * ```ts ignore
 * import { FtpServer, S3Storage, UsersFileAuthenticator } from "@exftp/server";
 *
 * const storage = new S3Storage({
 *   bucket: "uploads",
 *   endpoint: "http://localhost:9000",
 *   credentials: { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" },
 * });
 * await storage.check(); // a clear error now rather than at the first command
 * const authenticator = await UsersFileAuthenticator.open("users.yaml");
 * await using server = new FtpServer({ port: 2121, authenticator, storage });
 * await server.listen();
 * ```
 */
export class S3Storage implements StorageConnector, Disposable {
  readonly #bucket: S3Bucket;
  #sweepTimer?: ReturnType<typeof setInterval>;

  /** Serve `options.bucket`; nothing is contacted until the first request. */
  constructor(options: S3StorageOptions) {
    const shared = viewsOf.get(options) ?? makeShared(options);
    this.#bucket = new S3Bucket(shared, normalizePrefix(options.prefix ?? ""));
  }

  /** The bucket served. */
  get bucket(): string {
    return this.#bucket.name;
  }

  /** The key prefix that `/` maps to (`""` or ending in `/`). */
  get keyPrefix(): string {
    return this.#bucket.keyPrefix;
  }

  /**
   * The same bucket and client under another prefix (per-user folders, e.g.
   * `users/alice`). Views share one connection pool.
   */
  forPrefix(prefix: string): S3Storage {
    const options = { ...this.#bucket.shared.options, prefix };
    viewsOf.set(options, this.#bucket.shared);
    return new S3Storage(options);
  }

  /**
   * Make sure the bucket answers, within 10 seconds: rejects with a
   * `StorageError` that says what is wrong (no such bucket, endpoint not
   * reachable, access denied, no credentials).
   */
  async check(): Promise<void> {
    const bucket = this.#bucket;
    const { sdk, client } = await bucket.connect();
    try {
      await bucket.request(
        (signal) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket.name,
              Prefix: bucket.keyPrefix,
              MaxKeys: 1,
            }),
            { abortSignal: signal },
          ),
        CHECK_TIMEOUT_MS,
      );
    } catch (error) {
      throw bucket.describeFailure(error);
    }
  }

  /** Same as {@linkcode destroy}, for `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  /**
   * Abort the kept uploads (`uploadMode: "atomic_resume"`) under this
   * storage's prefix that nobody resumed for `abandonedUploadHours`, and
   * multipart uploads under it started that long ago that nobody kept (a
   * server died mid-upload) where the store can list them.
   */
  sweepAbandonedUploads(now: number = Date.now()): Promise<SweepResult> {
    return sweepAbandonedUploads(this.#bucket, now);
  }

  /**
   * Sweep abandoned uploads now and then every `abandonedUploadHours / 4`
   * (10 minutes to 1 hour) until {@linkcode destroy}; failures go to
   * `onError`. The timer does not keep the process alive. Resolves when the
   * first sweep is over.
   */
  keepSweeping(onError: (error: unknown) => void = () => {}): Promise<void> {
    if (this.#sweepTimer !== undefined) return Promise.resolve();
    const sweep = () => this.sweepAbandonedUploads().then(() => {}, onError);
    const every = Math.min(Math.max(this.#bucket.shared.abandonedUploadMs / 4, 600_000), 3_600_000);
    const timer = setInterval(sweep, every);
    Deno.unrefTimer(timer);
    this.#sweepTimer = timer;
    return sweep();
  }

  /** Close the connection pool (only when this storage created the client). */
  destroy(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const shared = this.#bucket.shared;
    if (!shared.ownsClient || !shared.connection) return;
    const connection = shared.connection;
    shared.connection = undefined;
    connection.then(({ client }) => client.destroy(), () => {});
  }

  async stat(path: string): Promise<FileInfo> {
    if (path === "/") return { name: "", type: "directory", size: 0 };
    const bucket = this.#bucket;
    const key = bucket.key(path);
    const [head, folder, kept] = await Promise.all([
      headObject(bucket, key, path),
      probeFolder(bucket, path),
      bucket.shared.keepsBrokenUploads ? findKeptUpload(bucket, key, path) : undefined,
    ]);
    if (kept && keptUploadShows(kept, head)) {
      // An upload in progress: the bytes that can be resumed (SIZE for `curl -C -`).
      return { name: baseName(path), type: "file", size: kept.bytes, mtime: kept.keptAt };
    }
    if (head) return { name: baseName(path), type: "file", size: head.size, mtime: head.mtime };
    if (folder.exists) {
      return { name: baseName(path), type: "directory", size: 0, mtime: folder.mtime };
    }
    throw notFound(path);
  }

  /** The checksum an upload kept in the object's metadata (see `checksums.ts`). */
  async checksum(path: string, algorithm: ChecksumAlgorithm): Promise<string | undefined> {
    if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
    const bucket = this.#bucket;
    const head = await headObject(bucket, bucket.key(path), path);
    if (head) return keptChecksum(head, algorithm);
    if ((await probeFolder(bucket, path)).exists) {
      throw new StorageError("is_a_directory", `"${path}" is a folder`);
    }
    throw notFound(path);
  }

  list(path: string): AsyncIterable<FileInfo> {
    return listFolder(this.#bucket, path);
  }

  async read(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const bucket = this.#bucket;
    try {
      return await readObject(bucket, path, options);
    } catch (error) {
      if (!(bucket.shared.keepsBrokenUploads && (error as StorageError).kind === "not_found")) {
        throw error;
      }
      // The parts of an upload in progress can't be read back: say why.
      const kept = await findKeptUpload(bucket, bucket.key(path), path);
      if (!kept) throw error;
      throw new StorageError(
        "not_found",
        `"${path}" is an upload in progress (${kept.bytes} bytes kept); finish it with ` +
          `REST ${kept.bytes} + STOR or APPE, or delete it`,
        { cause: error },
      );
    }
  }

  write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<number> {
    return writeObject(this.#bucket, path, source, options);
  }

  async mkdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("already_exists", `"/" already exists`);
    const bucket = this.#bucket;
    const [, head, folder] = await Promise.all([
      requireFolder(bucket, parentPath(path)),
      headObject(bucket, bucket.key(path), path),
      probeFolder(bucket, path),
    ]);
    if (head || folder.exists) throw new StorageError("already_exists", `"${path}" already exists`);
    await putFolderMarker(bucket, path);
  }

  async rmdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("permission_denied", "The root cannot be removed");
    const bucket = this.#bucket;
    const marker = bucket.folderKey(path);
    const page = await listPage(bucket, marker, undefined, undefined, path, 2);
    if (page.objects.length === 0) {
      if (await headObject(bucket, bucket.key(path), path)) {
        throw new StorageError("not_a_directory", `"${path}" is not a folder`);
      }
      throw notFound(path);
    }
    if (page.objects.some((object) => object.key !== marker)) {
      throw new StorageError("not_empty", `"${path}" is not empty`);
    }
    await deleteObject(bucket, marker, path);
    await keepFolder(bucket, parentPath(path));
  }

  async remove(path: string): Promise<void> {
    if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
    const bucket = this.#bucket;
    const key = bucket.key(path);
    const kept = bucket.shared.keepsBrokenUploads
      ? await findKeptUpload(bucket, key, path)
      : undefined;
    if (kept) await discardKeptUpload(bucket, key, kept, path);
    if (!(await headObject(bucket, key, path))) {
      if (kept) return; // DELE drops an upload in progress
      if ((await probeFolder(bucket, path)).exists) {
        throw new StorageError("is_a_directory", `"${path}" is a folder`);
      }
      throw notFound(path);
    }
    await deleteObject(bucket, key, path);
    await keepFolder(bucket, parentPath(path));
  }

  rename(from: string, to: string): Promise<void> {
    return renameEntry(this.#bucket, from, to);
  }
}
