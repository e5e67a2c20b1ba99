/**
 * One bucket under one key prefix: the lazily loaded SDK and client, requests
 * with a time limit, and the keys and error mapping bound to that prefix —
 * what every operation of the connector works through.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { StorageError } from "../../errors.ts";
import { describeFailure, mapError } from "./errors.ts";
import { folderKey, objectKey, uncheckedKey } from "./keys.ts";
import { S3_SDK_SPECIFIER, type Sdk, type Shared } from "./options.ts";

/** The SDK module and the client to send with. */
export interface Connection {
  sdk: Sdk;
  client: S3Client;
}

/** A bucket seen from one key prefix (a storage or one of its per-prefix views). */
export class S3Bucket {
  /** The settings and connection shared with the other views of the same storage. */
  readonly shared: Shared;
  /** The key prefix that `/` maps to (`""` or ending in `/`). */
  readonly keyPrefix: string;

  constructor(shared: Shared, keyPrefix: string) {
    this.shared = shared;
    this.keyPrefix = keyPrefix;
  }

  /** The bucket's name. */
  get name(): string {
    return this.shared.bucket;
  }

  /** The object key of a path (never `/` itself). */
  key(path: string): string {
    return objectKey(this.keyPrefix, path);
  }

  /** The key of a path without the length check. */
  uncheckedKey(path: string): string {
    return uncheckedKey(this.keyPrefix, path);
  }

  /** The key prefix of a folder's contents, which is also its marker object. */
  folderKey(path: string): string {
    return folderKey(this.keyPrefix, path);
  }

  /** The SDK and the client, loaded and made on first use, then shared. */
  connect(): Promise<Connection> {
    const shared = this.shared;
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
  async request<T>(
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
          `S3 did not answer within ${timeoutMs / 1000} s (${this.shared.endpointText})`,
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

  /** A failed request on `path` as a `StorageError` (aborts and storage errors pass through). */
  mapError(error: unknown, path: string): unknown {
    return mapError(error, path, this.#place());
  }

  /** A start-up/login failure in words a person can act on. */
  describeFailure(error: unknown): StorageError {
    return describeFailure(error, this.#place());
  }

  #place() {
    return {
      bucket: this.name,
      endpointText: this.shared.endpointText,
      keyPrefix: this.keyPrefix,
    };
  }
}

/**
 * Load the SDK — here, with a dynamic `import()`, so that a server that does
 * not use S3 neither pays for it nor needs environment access — and make the
 * client (unless one was given).
 */
async function openConnection(shared: Shared): Promise<Connection> {
  const specifier = S3_SDK_SPECIFIER; // not analyzable on purpose (see there)
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
