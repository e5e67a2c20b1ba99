/**
 * The s3 connector's options, their limits, and the settings checked from
 * them once and shared by a storage and its per-prefix views.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";

/** The SDK module, loaded lazily (see `bucket.ts`). */
export type Sdk = typeof import("@aws-sdk/client-s3");

/**
 * The SDK's npm specifier, equal to `deno.json`'s import (a test keeps them
 * equal). It is held in a variable so that the `import()` that loads the SDK
 * can't be analyzed: Deno fetches the npm packages of every analyzable dynamic
 * import before the program starts, so `deno run jsr:@exftp/server` downloaded
 * the SDK's 40 packages (30 MB, 8–10 s on an empty cache) even for a file-only
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
   * `atomic_resume` keeps the stored parts of a broken multipart upload, so
   * that `REST n` + `STOR` or `APPE` goes on from them (on any server using
   * the bucket); `atomic` and `direct` abort a broken upload at the store.
   * See `resume.ts`.
   * @default {"atomic"}
   */
  uploadMode?: "atomic" | "atomic_resume" | "direct";
  /**
   * With `uploadMode: "atomic_resume"`: kept uploads not resumed for this many
   * hours are aborted by {@linkcode S3Storage.sweepAbandonedUploads}.
   * @default {24}
   */
  abandonedUploadHours?: number;
  /**
   * A ready `S3Client` from `@aws-sdk/client-s3`; then `region`, `endpoint`,
   * `forcePathStyle`, `requestChecksumCalculation` and `credentials` are
   * ignored, and {@linkcode S3Storage.destroy} leaves it open.
   */
  client?: S3ClientLike;
}

export const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const MIN_PART_SIZE = 5 * MIB;
/** S3's limit on the size of one part (and of a single-request copy). */
export const MAX_PART_SIZE = 5 * GIB;
/** S3's limit on the parts of one multipart upload. */
export const MAX_PARTS = 10_000;

/** State shared by a storage and the per-prefix views made from it. */
export interface Shared {
  options: S3StorageOptions;
  bucket: string;
  partSize: number;
  queueSize: number;
  timeoutMs: number;
  multipartCopyThreshold: number;
  /** Whether broken uploads keep their parts (`uploadMode: "atomic_resume"`). */
  keepsBrokenUploads: boolean;
  /** Age after which a kept upload is abandoned, in milliseconds. */
  abandonedUploadMs: number;
  endpointText: string;
  connection?: Promise<{ sdk: Sdk; client: S3Client }>;
  ownsClient: boolean;
  /** Keys with an exclusive write in progress (atomic within this process). */
  exclusiveKeys: Set<string>;
}

/** Check `options` (TypeError/RangeError naming the option) into fresh shared state. */
export function makeShared(options: S3StorageOptions): Shared {
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
  const uploadMode = options.uploadMode ?? "atomic";
  if (!["atomic", "atomic_resume", "direct"].includes(uploadMode)) {
    throw new RangeError(
      `Option "uploadMode" must be atomic, atomic_resume or direct, got ${
        JSON.stringify(uploadMode)
      }`,
    );
  }
  const abandonedUploadHours = options.abandonedUploadHours ?? 24;
  if (!(typeof abandonedUploadHours === "number" && abandonedUploadHours > 0)) {
    throw new RangeError(
      `Option "abandonedUploadHours" must be positive, got ${abandonedUploadHours}`,
    );
  }
  return {
    options,
    bucket: options.bucket,
    partSize,
    queueSize,
    timeoutMs,
    multipartCopyThreshold: options.multipartCopyThreshold ?? MAX_PART_SIZE,
    keepsBrokenUploads: uploadMode === "atomic_resume",
    abandonedUploadMs: abandonedUploadHours * 3_600_000,
    endpointText: options.client ? "the given client" : (options.endpoint ?? "AWS S3"),
    ownsClient: !options.client,
    exclusiveKeys: new Set(),
  };
}
