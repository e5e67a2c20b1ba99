/**
 * The `s3` connector: any S3-compatible store (AWS S3, MinIO, Ceph RGW,
 * Garage, Cloudflare R2, LocalStack…) through `@aws-sdk/client-s3`.
 *
 * The SDK is loaded with a dynamic `import()` on first use, so a server that
 * does not use S3 neither pays for it nor needs environment access.
 *
 * Layout: the FTP path `/a/b.txt` is the key `<prefix>/a/b.txt`; a folder
 * exists when a `name/` marker object (written by MKD) or any key below it
 * exists. Keys match exactly: `/dir` never answers for `/dir.txt`.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { StorageError } from "../errors.ts";
import { baseName, parentPath } from "../paths.ts";
import { MAX_PARTS, uploadObject } from "./s3_upload.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "./types.ts";

type Sdk = typeof import("@aws-sdk/client-s3");

/**
 * The SDK's npm specifier, equal to `deno.json`'s import (a test keeps them
 * equal). It is held in a variable so that the `import()` below can't be
 * analyzed: Deno fetches the npm packages of every analyzable dynamic import
 * before the program starts, so `deno run jsr:@exftp/server` downloaded the
 * SDK's 40 packages (30 MB, 8–10 s on an empty cache) even for a file-only
 * server; now only an S3 start fetches them, once (then it starts offline too).
 * `deno compile` needs `--include` with this specifier (the compile task has it).
 */
export const S3_SDK_SPECIFIER = "npm:@aws-sdk/client-s3@3.1175.0";

/** Static credentials for {@linkcode S3StorageOptions.credentials}. */
export interface S3Credentials {
  /** The access key id. */
  accessKeyId: string;
  /** The secret access key. */
  secretAccessKey: string;
  /** A session token, for temporary credentials. */
  sessionToken?: string;
}

/**
 * What the connector needs of an `S3Client` (from `@aws-sdk/client-s3`); any
 * `S3Client` fits.
 */
export interface S3ClientLike {
  /** Send a command. */
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** Options of {@linkcode S3Storage}. */
export interface S3StorageOptions {
  /** The bucket to serve. */
  bucket: string;
  /**
   * The key prefix that becomes the FTP `/`: `"ftp"` serves `s3://bucket/ftp/`.
   * @default {""}
   */
  prefix?: string;
  /**
   * The region. @default {the `AWS_REGION` / `AWS_DEFAULT_REGION` environment variable, else "us-east-1"}
   */
  region?: string;
  /** The endpoint URL of an S3-compatible store, e.g. `http://localhost:9000`. */
  endpoint?: string;
  /**
   * Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (MinIO,
   * s3rver and most self-hosted stores need it).
   * @default {true when `endpoint` is set}
   */
  forcePathStyle?: boolean;
  /**
   * When the SDK adds checksums to requests. `WHEN_REQUIRED` works with every
   * S3-compatible store; the SDK's own default (`WHEN_SUPPORTED`) makes some
   * of them store streamed uploads corrupted without any error.
   * @default {"WHEN_REQUIRED"}
   */
  requestChecksumCalculation?: "WHEN_REQUIRED" | "WHEN_SUPPORTED";
  /** Static credentials. @default {the standard AWS chain: environment, profile, instance role} */
  credentials?: S3Credentials;
  /**
   * Size of each multipart upload part in bytes (5 MiB to 5 GiB). An upload
   * holds at most `(queueSize + 1) × partSize` bytes in memory, whatever the
   * file size; a file can have at most 10,000 parts.
   * @default {5 MiB}
   */
  partSize?: number;
  /** Parts uploaded in parallel. @default {4} */
  queueSize?: number;
  /** Time limit for metadata requests (stat, list pages, copy, delete). @default {30000} */
  timeoutMs?: number;
  /** Objects larger than this are copied part by part on rename. @default {5 GiB} */
  multipartCopyThreshold?: number;
  /**
   * A ready `S3Client` from `@aws-sdk/client-s3`; then `region`, `endpoint`,
   * `forcePathStyle`, `requestChecksumCalculation` and `credentials` are
   * ignored, and {@linkcode S3Storage.destroy} leaves it open.
   */
  client?: S3ClientLike;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * GIB;
const MAX_KEY_BYTES = 1024;
const CHECK_TIMEOUT_MS = 10_000;
const PARALLEL_COPIES = 8;
const DELETE_BATCH = 1000;

/** Options objects made by `forPrefix`, with the state their view shares. */
const viewsOf = new WeakMap<S3StorageOptions, Shared>();

/** State shared by a storage and the per-prefix views made from it. */
interface Shared {
  options: S3StorageOptions;
  bucket: string;
  partSize: number;
  queueSize: number;
  timeoutMs: number;
  multipartCopyThreshold: number;
  endpointText: string;
  connection?: Promise<{ sdk: Sdk; client: S3Client }>;
  ownsClient: boolean;
  /** Keys with an exclusive write in progress (atomic within this process). */
  exclusiveKeys: Set<string>;
}

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
 * @example
 * ```ts ignore
 * import { FtpServer, S3Storage } from "@exftp/server";
 *
 * const storage = new S3Storage({
 *   bucket: "uploads",
 *   endpoint: "http://localhost:9000",
 *   credentials: { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" },
 * });
 * await storage.check(); // a clear error now rather than at the first command
 * await using server = new FtpServer({ port: 2121, storage });
 * await server.listen();
 * ```
 */
export class S3Storage implements StorageConnector, Disposable {
  readonly #shared: Shared;
  readonly #keyPrefix: string;

  /** Serve `options.bucket`; nothing is contacted until the first request. */
  constructor(options: S3StorageOptions) {
    this.#shared = viewsOf.get(options) ?? makeShared(options);
    this.#keyPrefix = normalizePrefix(options.prefix ?? "");
  }

  /** The bucket served. */
  get bucket(): string {
    return this.#shared.bucket;
  }

  /** The key prefix that `/` maps to (`""` or ending in `/`). */
  get keyPrefix(): string {
    return this.#keyPrefix;
  }

  /**
   * The same bucket and client under another prefix (per-user folders, e.g.
   * `users/alice`). Views share one connection pool.
   */
  forPrefix(prefix: string): S3Storage {
    const options = { ...this.#shared.options, prefix };
    viewsOf.set(options, this.#shared);
    return new S3Storage(options);
  }

  /**
   * Make sure the bucket answers, within 10 seconds: rejects with a
   * `StorageError` that says what is wrong (no such bucket, endpoint not
   * reachable, access denied, no credentials).
   */
  async check(): Promise<void> {
    const { sdk, client } = await this.#connect();
    try {
      await this.#request(
        (signal) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.#keyPrefix,
              MaxKeys: 1,
            }),
            { abortSignal: signal },
          ),
        CHECK_TIMEOUT_MS,
      );
    } catch (error) {
      throw this.#describeFailure(error);
    }
  }

  /** Same as {@linkcode destroy}, for `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  /** Close the connection pool (only when this storage created the client). */
  destroy(): void {
    const shared = this.#shared;
    if (!shared.ownsClient || !shared.connection) return;
    const connection = shared.connection;
    shared.connection = undefined;
    connection.then(({ client }) => client.destroy(), () => {});
  }

  async stat(path: string): Promise<FileInfo> {
    if (path === "/") return { name: "", type: "directory", size: 0 };
    const key = this.#key(path);
    const [head, folder] = await Promise.all([this.#head(key, path), this.#probeFolder(path)]);
    if (head) return { name: baseName(path), type: "file", size: head.size, mtime: head.mtime };
    if (folder.exists) {
      return { name: baseName(path), type: "directory", size: 0, mtime: folder.mtime };
    }
    throw notFound(path);
  }

  async *list(path: string): AsyncIterable<FileInfo> {
    const prefix = this.#folderKey(path);
    let next: Promise<ListPage> | undefined = this.#listPage(prefix, "/", undefined, path);
    let first = true;
    while (next) {
      const page: ListPage = await next;
      // Fetch the next page while this one is being sent to the client.
      next = page.nextToken ? this.#listPage(prefix, "/", page.nextToken, path) : undefined;
      next?.catch(() => {}); // reported when awaited; the consumer may stop early
      if (first && path !== "/" && page.objects.length === 0 && page.folders.length === 0) {
        if (await this.#head(this.#key(path), path)) {
          throw new StorageError("not_a_directory", `"${path}" is not a folder`);
        }
        throw notFound(path);
      }
      first = false;
      yield* mergeEntries(prefix, page);
    }
  }

  async read(path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
    const key = this.#key(path);
    const offset = options.offset ?? 0;
    const { sdk, client } = await this.#connect();
    try {
      const output = await this.#request(
        (signal) =>
          client.send(
            new sdk.GetObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Range: offset > 0 ? `bytes=${offset}-` : undefined,
            }),
            { abortSignal: signal },
          ),
        this.#shared.timeoutMs,
        options.signal,
      );
      if (!output.Body) return emptyStream();
      return output.Body.transformToWebStream() as ReadableStream<Uint8Array>;
    } catch (error) {
      if (errorName(error) === "InvalidRange" || httpStatus(error) === 416) {
        return emptyStream(); // the offset is the end of the file (or beyond)
      }
      if (isNotFound(error)) {
        if ((await this.#probeFolder(path)).exists) {
          throw new StorageError("is_a_directory", `"${path}" is a folder`);
        }
        throw notFound(path);
      }
      throw this.#mapError(error, path);
    }
  }

  async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<number> {
    const position = options.position ?? "truncate";
    const exclusiveKey = `${this.bucket}\0${this.#safeKey(path)}`;
    let locked = false;
    try {
      if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
      const key = this.#key(path);
      if (options.exclusive) {
        // One process never lets two exclusive writers in; across processes the
        // store decides through If-None-Match (where it supports it).
        if (this.#shared.exclusiveKeys.has(exclusiveKey)) {
          throw new StorageError("already_exists", `"${path}" already exists`);
        }
        this.#shared.exclusiveKeys.add(exclusiveKey);
        locked = true;
      }
      const [, head, folder] = await Promise.all([
        this.#requireFolder(parentPath(path)),
        this.#head(key, path),
        this.#probeFolder(path),
      ]);
      if (folder.exists) throw new StorageError("is_a_directory", `"${path}" is a folder`);
      if (options.exclusive && head) {
        throw new StorageError("already_exists", `"${path}" already exists`);
      }

      // Objects cannot be edited: keep the stored bytes by streaming them first.
      const pieces: ReadableStream<Uint8Array>[] = [];
      let keptBytes = 0;
      if (position !== "truncate" && head) {
        keptBytes = position === "append" ? head.size : position;
        const fromStore = Math.min(keptBytes, head.size);
        if (fromStore > 0) pieces.push(await this.#readRange(key, path, fromStore, head.etag));
        if (keptBytes > head.size) pieces.push(zeroStream(keptBytes - head.size));
      } else if (typeof position === "number" && position > 0) {
        keptBytes = position;
        pieces.push(zeroStream(position));
      }
      pieces.push(source);
      const { sdk, client } = await this.#connect();
      const { partSize, queueSize, timeoutMs } = this.#shared;
      let stored: number;
      try {
        stored = await uploadObject({
          sdk,
          client,
          bucket: this.bucket,
          key,
          path,
          partSize,
          queueSize,
          putTimeoutMs: Math.max(timeoutMs, 300_000),
          ifNoneMatch: options.exclusive === true,
          signal: options.signal,
        }, pieces);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (options.exclusive && isPreconditionFailed(error)) {
          throw new StorageError("already_exists", `"${path}" already exists`, { cause: error });
        }
        throw this.#mapError(error, path);
      }
      return stored - keptBytes;
    } catch (error) {
      await source.cancel(error).catch(() => {});
      throw error;
    } finally {
      if (locked) this.#shared.exclusiveKeys.delete(exclusiveKey);
    }
  }

  async mkdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("already_exists", `"/" already exists`);
    const key = this.#key(path);
    const [, head, folder] = await Promise.all([
      this.#requireFolder(parentPath(path)),
      this.#head(key, path),
      this.#probeFolder(path),
    ]);
    if (head || folder.exists) throw new StorageError("already_exists", `"${path}" already exists`);
    await this.#putMarker(path);
  }

  async rmdir(path: string): Promise<void> {
    if (path === "/") throw new StorageError("permission_denied", "The root cannot be removed");
    const marker = this.#folderKey(path);
    const page = await this.#listPage(marker, undefined, undefined, path, 2);
    if (page.objects.length === 0) {
      if (await this.#head(this.#key(path), path)) {
        throw new StorageError("not_a_directory", `"${path}" is not a folder`);
      }
      throw notFound(path);
    }
    if (page.objects.some((object) => object.key !== marker)) {
      throw new StorageError("not_empty", `"${path}" is not empty`);
    }
    await this.#delete(marker, path);
    await this.#keepFolder(parentPath(path));
  }

  async remove(path: string): Promise<void> {
    if (path === "/") throw new StorageError("is_a_directory", `"/" is a folder`);
    const key = this.#key(path);
    if (!(await this.#head(key, path))) {
      if ((await this.#probeFolder(path)).exists) {
        throw new StorageError("is_a_directory", `"${path}" is a folder`);
      }
      throw notFound(path);
    }
    await this.#delete(key, path);
    await this.#keepFolder(parentPath(path));
  }

  async rename(from: string, to: string): Promise<void> {
    if (from === "/" || to === "/") {
      throw new StorageError("permission_denied", "The root cannot be renamed");
    }
    const fromKey = this.#key(from);
    const toKey = this.#key(to);
    const [head, folder] = await Promise.all([
      this.#head(fromKey, from),
      this.#probeFolder(from),
    ]);
    if (!head && !folder.exists) throw notFound(from);
    if (from === to) return;
    if (to.startsWith(from + "/")) {
      throw new StorageError("invalid_name", `Cannot move "${from}" into itself`);
    }
    const [, toHead, toFolder] = await Promise.all([
      this.#requireFolder(parentPath(to)),
      this.#head(toKey, to),
      this.#probeFolder(to),
    ]);
    if (head) {
      if (toFolder.exists) throw new StorageError("is_a_directory", `"${to}" is a folder`);
      await this.#copy(fromKey, toKey, head.size, from);
      await this.#delete(fromKey, from);
    } else {
      if (toHead) throw new StorageError("not_a_directory", `"${to}" is not a folder`);
      if (toFolder.exists) {
        const target = this.#folderKey(to);
        const page = await this.#listPage(target, undefined, undefined, to, 2);
        if (page.objects.some((object) => object.key !== target)) {
          throw new StorageError("not_empty", `"${to}" is not empty`);
        }
      }
      await this.#moveFolder(from, to);
    }
    await this.#keepFolder(parentPath(from));
  }

  // ---- keys ----

  /** The object key of a path (never `/` itself). */
  #key(path: string): string {
    const key = this.#safeKey(path);
    if (new TextEncoder().encode(key).length > MAX_KEY_BYTES - 1) {
      throw new StorageError("invalid_name", `Name too long for S3: "${path}"`);
    }
    return key;
  }

  #safeKey(path: string): string {
    return path === "/" ? this.#keyPrefix : this.#keyPrefix + path.slice(1);
  }

  /** The key prefix of a folder's contents, which is also its marker object. */
  #folderKey(path: string): string {
    return path === "/" ? this.#keyPrefix : this.#key(path) + "/";
  }

  // ---- requests ----

  #connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    const shared = this.#shared;
    shared.connection ??= openConnection(shared).catch((error) => {
      shared.connection = undefined;
      throw new StorageError("io", `Cannot load the S3 SDK: ${(error as Error).message}`, {
        cause: error,
      });
    });
    return shared.connection;
  }

  /**
   * Run a request with a time limit on getting its response (not on reading
   * a streamed body afterwards) and an optional caller signal.
   */
  async #request<T>(
    send: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      return await send(controller.signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        throw new StorageError(
          "io",
          `S3 did not answer within ${timeoutMs / 1000} s (${this.#shared.endpointText})`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      // Once the response is here, a streamed body is the caller's to cancel.
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** HeadObject: the object's facts, or undefined when there is none. */
  async #head(key: string, path: string): Promise<ObjectHead | undefined> {
    const { sdk, client } = await this.#connect();
    try {
      const output = await this.#request(
        (signal) =>
          client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
            abortSignal: signal,
          }),
        this.#shared.timeoutMs,
      );
      return {
        size: output.ContentLength ?? 0,
        mtime: output.LastModified,
        etag: output.ETag,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#mapError(error, path);
    }
  }

  /** Whether a folder exists (a marker or any key below), with the marker's time. */
  async #probeFolder(path: string): Promise<{ exists: boolean; mtime?: Date }> {
    if (path === "/") return { exists: true };
    const prefix = this.#folderKey(path);
    const page = await this.#listPage(prefix, undefined, undefined, path, 1);
    const first = page.objects[0];
    if (!first) return { exists: false };
    return { exists: true, mtime: first.key === prefix ? first.mtime : undefined };
  }

  /** `not_found` unless `path` is a folder; `not_a_directory` when it is a file. */
  async #requireFolder(path: string): Promise<void> {
    if ((await this.#probeFolder(path)).exists) return;
    if (await this.#head(this.#key(path), path)) {
      throw new StorageError("not_a_directory", `"${path}" is not a folder`);
    }
    throw new StorageError("not_found", `No such folder: "${path}"`);
  }

  async #listPage(
    prefix: string,
    delimiter: string | undefined,
    token: string | undefined,
    path: string,
    maxKeys?: number,
  ): Promise<ListPage> {
    const { sdk, client } = await this.#connect();
    try {
      const output = await this.#request(
        (signal) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: prefix,
              Delimiter: delimiter,
              ContinuationToken: token,
              MaxKeys: maxKeys,
            }),
            { abortSignal: signal },
          ),
        this.#shared.timeoutMs,
      );
      return {
        objects: (output.Contents ?? []).map((object) => ({
          key: object.Key ?? "",
          size: object.Size ?? 0,
          mtime: object.LastModified,
        })),
        folders: (output.CommonPrefixes ?? []).map((folder) => folder.Prefix ?? ""),
        nextToken: output.IsTruncated ? output.NextContinuationToken : undefined,
      };
    } catch (error) {
      throw this.#mapError(error, path);
    }
  }

  /** Every key below a folder (no delimiter), page by page. */
  async *#allKeys(prefix: string, path: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.#listPage(prefix, undefined, token, path);
      yield* page.objects;
      token = page.nextToken;
    } while (token);
  }

  async #putMarker(path: string): Promise<void> {
    const { sdk, client } = await this.#connect();
    try {
      await this.#request(
        (signal) =>
          client.send(
            new sdk.PutObjectCommand({
              Bucket: this.bucket,
              Key: this.#folderKey(path),
              Body: new Uint8Array(),
              ContentLength: 0,
            }),
            { abortSignal: signal },
          ),
        this.#shared.timeoutMs,
      );
    } catch (error) {
      throw this.#mapError(error, path);
    }
  }

  /**
   * Keep a folder after its last entry went away: a folder that existed only
   * because of keys below it gets a marker, as MKD would have written.
   */
  async #keepFolder(path: string): Promise<void> {
    if (path === "/") return;
    if (!(await this.#probeFolder(path)).exists) await this.#putMarker(path);
  }

  async #delete(key: string, path: string): Promise<void> {
    const { sdk, client } = await this.#connect();
    try {
      await this.#request(
        (signal) =>
          client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }), {
            abortSignal: signal,
          }),
        this.#shared.timeoutMs,
      );
    } catch (error) {
      throw this.#mapError(error, path);
    }
  }

  async #deleteMany(keys: string[], path: string): Promise<void> {
    const { sdk, client } = await this.#connect();
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      try {
        const output = await this.#request(
          (signal) =>
            client.send(
              new sdk.DeleteObjectsCommand({
                Bucket: this.bucket,
                Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
              }),
              { abortSignal: signal },
            ),
          this.#shared.timeoutMs,
        );
        const failed = output.Errors?.[0];
        if (failed) {
          throw new StorageError(
            failed.Code === "AccessDenied" ? "permission_denied" : "io",
            `Could not delete "${failed.Key}": ${failed.Message ?? failed.Code}`,
          );
        }
      } catch (error) {
        const status = httpStatus(error);
        if (status === 400 || status === 501) {
          // Some stores reject the batch call (e.g. wanting Content-MD5): one by one then.
          await runLimited(batch, PARALLEL_COPIES, (key) => this.#delete(key, path));
          continue;
        }
        throw this.#mapError(error, path);
      }
    }
  }

  /** A ranged read of the first `length` bytes, pinned to one version by ETag. */
  async #readRange(
    key: string,
    path: string,
    length: number,
    etag: string | undefined,
  ): Promise<ReadableStream<Uint8Array>> {
    const { sdk, client } = await this.#connect();
    try {
      const output = await this.#request(
        (signal) =>
          client.send(
            new sdk.GetObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Range: `bytes=0-${length - 1}`,
              IfMatch: etag,
            }),
            { abortSignal: signal },
          ),
        this.#shared.timeoutMs,
      );
      if (!output.Body) return emptyStream();
      return output.Body.transformToWebStream() as ReadableStream<Uint8Array>;
    } catch (error) {
      if (errorName(error) === "PreconditionFailed" || httpStatus(error) === 412) {
        throw new StorageError("io", `"${path}" changed while being appended to; try again`, {
          cause: error,
        });
      }
      throw this.#mapError(error, path);
    }
  }

  /** Copy one object; multipart copy above the single-request limit. */
  async #copy(fromKey: string, toKey: string, size: number, path: string): Promise<void> {
    const { sdk, client } = await this.#connect();
    const copySource = `${encodeKey(this.bucket)}/${encodeKey(fromKey)}`;
    const shared = this.#shared;
    try {
      if (size <= shared.multipartCopyThreshold) {
        await this.#request(
          (signal) =>
            client.send(
              new sdk.CopyObjectCommand({
                Bucket: this.bucket,
                Key: toKey,
                CopySource: copySource,
              }),
              { abortSignal: signal },
            ),
          Math.max(shared.timeoutMs, 600_000), // a server-side copy of gigabytes takes a while
        );
        return;
      }
      const partSize = Math.min(
        MAX_PART_SIZE,
        Math.max(shared.partSize, 512 * MIB, Math.ceil(size / MAX_PARTS)),
      );
      const { UploadId } = await client.send(
        new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: toKey }),
      );
      try {
        const ranges: { number: number; start: number; end: number }[] = [];
        for (let start = 0, number = 1; start < size; start += partSize, number++) {
          ranges.push({ number, start, end: Math.min(size, start + partSize) - 1 });
        }
        const parts: { PartNumber: number; ETag?: string }[] = [];
        await runLimited(ranges, shared.queueSize, async (range) => {
          const output = await client.send(
            new sdk.UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: toKey,
              UploadId,
              PartNumber: range.number,
              CopySource: copySource,
              CopySourceRange: `bytes=${range.start}-${range.end}`,
            }),
          );
          parts.push({ PartNumber: range.number, ETag: output.CopyPartResult?.ETag });
        });
        parts.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(
          new sdk.CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: toKey,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      } catch (error) {
        await client.send(
          new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, UploadId }),
        ).catch(() => {});
        throw error;
      }
    } catch (error) {
      throw this.#mapError(error, path);
    }
  }

  /** Copy every key below `from` to below `to`, then delete the originals. */
  async #moveFolder(from: string, to: string): Promise<void> {
    const fromPrefix = this.#folderKey(from);
    const toPrefix = this.#folderKey(to);
    const objects: ListedObject[] = [];
    for await (const object of this.#allKeys(fromPrefix, from)) objects.push(object);
    const copied: string[] = [];
    try {
      await runLimited(objects, PARALLEL_COPIES, async (object) => {
        const target = toPrefix + object.key.slice(fromPrefix.length);
        if (new TextEncoder().encode(target).length > MAX_KEY_BYTES) {
          throw new StorageError("invalid_name", `Name too long for S3 below "${to}"`);
        }
        await this.#copy(object.key, target, object.size, from);
        copied.push(target);
      });
    } catch (error) {
      // Leave the source whole and take back what was copied.
      await this.#deleteMany(copied, to).catch(() => {});
      throw error;
    }
    await this.#deleteMany(objects.map((object) => object.key), from);
  }

  // ---- errors ----

  #mapError(error: unknown, path: string): unknown {
    if (error instanceof StorageError) return error;
    if (error instanceof DOMException && error.name === "AbortError") return error;
    if (error instanceof Deno.errors.NotCapable) {
      return new StorageError(
        "permission_denied",
        `The S3 SDK lacks a Deno permission: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const name = errorName(error);
    const status = httpStatus(error);
    const detail = (error as Error | null)?.message || name || "unknown error";
    if (isNotFound(error) && name !== "NoSuchBucket") return notFound(path);
    if (name === "NoSuchBucket") {
      return new StorageError("io", `Bucket "${this.bucket}" does not exist`, { cause: error });
    }
    if (name === "AccessDenied" || status === 403) {
      return new StorageError("permission_denied", `Access denied by S3: "${path}"`, {
        cause: error,
      });
    }
    if (name === "InvalidObjectName" || name === "KeyTooLongError") {
      return new StorageError("invalid_name", `Invalid name for S3: "${path}"`, { cause: error });
    }
    if (
      name === "EntityTooLarge" || name === "QuotaExceeded" || name === "XMinioStorageFull" ||
      status === 507
    ) {
      return new StorageError("storage_full", `No space left for "${path}" (${detail})`, {
        cause: error,
      });
    }
    if (!status) {
      return new StorageError(
        "io",
        `Cannot reach S3 at ${this.#shared.endpointText}: ${detail}`,
        { cause: error },
      );
    }
    return new StorageError("io", `S3 error on "${path}": ${name ?? status} ${detail}`, {
      cause: error,
    });
  }

  /** A start-up/login failure in words a person can act on. */
  #describeFailure(error: unknown): StorageError {
    const where = `${this.#shared.endpointText}, bucket "${this.bucket}"${
      this.#keyPrefix ? `, prefix "${this.#keyPrefix}"` : ""
    }`;
    const name = errorName(error);
    const status = httpStatus(error);
    const detail = (error as Error | null)?.message ?? String(error);
    let kind: StorageError["kind"] = "io";
    let text: string;
    if (error instanceof Deno.errors.NotCapable) {
      // Not the store's refusal (per-user prefixes excuse that at start-up): always fatal.
      text = `The S3 SDK lacks a Deno permission (it needs --allow-net, --allow-env and ` +
        `--allow-sys=osRelease): ${detail}`;
    } else if (name === "NoSuchBucket" || (status === 404 && !name?.startsWith("NoSuchKey"))) {
      text = `Bucket "${this.bucket}" does not exist (${this.#shared.endpointText})`;
    } else if (name === "CredentialsProviderError" || (/credential/i.test(detail) && !status)) {
      kind = "permission_denied";
      text =
        `No S3 credentials found: set access_key_id and secret_access_key, or the AWS environment (${detail})`;
    } else if (
      name === "AccessDenied" || name === "InvalidAccessKeyId" ||
      name === "SignatureDoesNotMatch" || status === 403
    ) {
      kind = "permission_denied";
      text = `Access denied (${where}): check the credentials (${name ?? status})`;
    } else if (
      status === 301 || name === "PermanentRedirect" || name === "AuthorizationHeaderMalformed"
    ) {
      text = `Wrong region for bucket "${this.bucket}" (${name ?? status}): set the region`;
    } else if (error instanceof StorageError) {
      text = `${error.message} (${where})`;
    } else if (!status) {
      text = `Cannot reach S3 (${where}): ${detail}`;
    } else {
      text = `S3 check failed (${where}): ${name ?? status} ${detail}`;
    }
    return new StorageError(kind, text, { cause: error });
  }
}

interface ObjectHead {
  size: number;
  mtime?: Date;
  etag?: string;
}

interface ListedObject {
  key: string;
  size: number;
  mtime?: Date;
}

interface ListPage {
  objects: ListedObject[];
  folders: string[];
  nextToken?: string;
}

function makeShared(options: S3StorageOptions): Shared {
  if (typeof options?.bucket !== "string" || options.bucket === "") {
    throw new TypeError(
      `Option "bucket" must be a bucket name, got ${JSON.stringify(options?.bucket)}`,
    );
  }
  const partSize = options.partSize ?? MIN_PART_SIZE;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new RangeError(`Option "partSize" must be 5 MiB to 5 GiB, got ${partSize}`);
  }
  const queueSize = options.queueSize ?? 4;
  if (!Number.isSafeInteger(queueSize) || queueSize < 1 || queueSize > 64) {
    throw new RangeError(`Option "queueSize" must be 1 to 64, got ${queueSize}`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!(timeoutMs > 0)) {
    throw new RangeError(`Option "timeoutMs" must be positive, got ${timeoutMs}`);
  }
  return {
    options,
    bucket: options.bucket,
    partSize,
    queueSize,
    timeoutMs,
    multipartCopyThreshold: options.multipartCopyThreshold ?? MAX_PART_SIZE,
    endpointText: options.client ? "the given client" : (options.endpoint ?? "AWS S3"),
    ownsClient: !options.client,
    exclusiveKeys: new Set(),
  };
}

async function openConnection(shared: Shared): Promise<{ sdk: Sdk; client: S3Client }> {
  const specifier = S3_SDK_SPECIFIER; // not analyzable on purpose (see above)
  const sdk: Sdk = await import(specifier);
  const { options } = shared;
  if (options.client) return { sdk, client: options.client as unknown as S3Client };
  const checksums = options.requestChecksumCalculation ?? "WHEN_REQUIRED";
  const client = new sdk.S3Client({
    region: options.region ?? environment("AWS_REGION") ?? environment("AWS_DEFAULT_REGION") ??
      "us-east-1",
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // Fail fast on an unreachable endpoint; streamed bodies have no idle limit.
    requestHandler: { connectionTimeout: 5_000 },
  });
  return { sdk, client };
}

function environment(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission: the caller's options decide
  }
}

/** `""`, or the prefix without leading slashes and with exactly one trailing slash. */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
    if (trimmed !== "") throw new RangeError(`Invalid S3 prefix ${JSON.stringify(prefix)}`);
  }
  return trimmed === "" ? "" : trimmed + "/";
}

/** A listing page as FTP entries, folders and files merged in key order. */
function* mergeEntries(prefix: string, page: ListPage): Iterable<FileInfo> {
  const entries: { sortKey: string; info: FileInfo }[] = [];
  for (const folder of page.folders) {
    const name = folder.slice(prefix.length, -1);
    if (!isListableName(name)) continue;
    entries.push({ sortKey: folder, info: { name, type: "directory", size: 0 } });
  }
  for (const object of page.objects) {
    if (object.key === prefix) continue; // the folder's own marker
    const name = object.key.slice(prefix.length);
    if (!isListableName(name)) continue;
    entries.push({
      sortKey: object.key,
      info: { name, type: "file", size: object.size, mtime: object.mtime },
    });
  }
  entries.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  for (const entry of entries) yield entry.info;
}

/** Keys written by other tools may make names FTP cannot address. */
function isListableName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/");
}

function notFound(path: string): StorageError {
  return new StorageError("not_found", `No such file or folder: "${path}"`);
}

function errorName(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : undefined;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return name === "NotFound" || name === "NoSuchKey" || httpStatus(error) === 404;
}

function isPreconditionFailed(error: unknown): boolean {
  return errorName(error) === "PreconditionFailed" || httpStatus(error) === 412;
}

/** Percent-encode a key for `x-amz-copy-source`, keeping the slashes. */
function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.close();
    },
  });
}

/** `length` zero bytes (a write at an offset beyond the end of the stored file). */
function zeroStream(length: number): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream({
    pull(controller) {
      if (left === 0) {
        controller.close();
        return;
      }
      const n = Math.min(left, 64 * 1024);
      controller.enqueue(new Uint8Array(n));
      left -= n;
    },
  });
}

/** Run `task` over `items` with at most `limit` at a time; the first failure wins. */
async function runLimited<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.error;
}
