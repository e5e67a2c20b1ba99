/**
 * SDK errors as the connector's {@linkcode StorageError}s: the per-request
 * mapping (which kind, which words) and the start-up check's description.
 *
 * @module
 */

import { StorageError } from "../../errors.ts";

/** Where a failure happened, for messages. */
export interface FailurePlace {
  /** The bucket. */
  bucket: string;
  /** The endpoint URL, "AWS S3" or "the given client". */
  endpointText: string;
  /** The key prefix (`""` or ending in `/`). */
  keyPrefix: string;
}

/** The `not_found` error of a path. */
export function notFound(path: string): StorageError {
  return new StorageError("not_found", `No such file or folder: "${path}"`);
}

/** The SDK's error name (`NoSuchKey`, `AccessDenied`…), when there is one. */
export function errorName(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : undefined;
}

/** The HTTP status of the store's answer; undefined when there was none. */
export function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** Whether the store said the object (or bucket) is not there. */
export function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return name === "NotFound" || name === "NoSuchKey" || httpStatus(error) === 404;
}

/** Whether an `If-Match` / `If-None-Match` condition failed. */
export function isPreconditionFailed(error: unknown): boolean {
  return errorName(error) === "PreconditionFailed" || httpStatus(error) === 412;
}

/** A failed request on `path` as a `StorageError` (aborts and storage errors pass through). */
export function mapError(error: unknown, path: string, place: FailurePlace): unknown {
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
    return new StorageError("io", `Bucket "${place.bucket}" does not exist`, { cause: error });
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
      `Cannot reach S3 at ${place.endpointText}: ${detail}`,
      { cause: error },
    );
  }
  return new StorageError("io", `S3 error on "${path}": ${name ?? status} ${detail}`, {
    cause: error,
  });
}

/** A start-up/login failure in words a person can act on. */
export function describeFailure(error: unknown, place: FailurePlace): StorageError {
  const where = `${place.endpointText}, bucket "${place.bucket}"${
    place.keyPrefix ? `, prefix "${place.keyPrefix}"` : ""
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
    text = `Bucket "${place.bucket}" does not exist (${place.endpointText})`;
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
    text = `Wrong region for bucket "${place.bucket}" (${name ?? status}): set the region`;
  } else if (error instanceof StorageError) {
    text = `${error.message} (${where})`;
  } else if (!status) {
    text = `Cannot reach S3 (${where}): ${detail}`;
  } else {
    text = `S3 check failed (${where}): ${name ?? status} ${detail}`;
  }
  return new StorageError(kind, text, { cause: error });
}
