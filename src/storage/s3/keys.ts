/**
 * FTP paths and S3 keys: the FTP path `/a/b.txt` is the key `<prefix>a/b.txt`;
 * a folder's contents, and its marker object (written by MKD), are below
 * `<prefix>a/`. Keys match exactly: `/dir` never answers for `/dir.txt`.
 *
 * @module
 */

import { StorageError } from "../../errors.ts";

/** S3's limit on the length of a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();

/**
 * The bucket-root folder of the kept uploads' state (see `resume.ts`);
 * never listed, never addressable over FTP.
 */
export const KEPT_UPLOADS_FOLDER = ".exftp-resume/";

/** `""`, or the prefix without leading slashes and with exactly one trailing slash. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
    if (trimmed !== "") throw new RangeError(`Invalid S3 prefix ${JSON.stringify(prefix)}`);
  }
  return trimmed === "" ? "" : trimmed + "/";
}

/** The key of a path, unchecked (for in-process bookkeeping only). */
export function uncheckedKey(keyPrefix: string, path: string): string {
  return path === "/" ? keyPrefix : keyPrefix + path.slice(1);
}

/**
 * The object key of a path (never `/` itself); one byte is left for the `/`
 * of a folder marker.
 */
export function objectKey(keyPrefix: string, path: string): string {
  const key = uncheckedKey(keyPrefix, path);
  if (key.startsWith(KEPT_UPLOADS_FOLDER) || key + "/" === KEPT_UPLOADS_FOLDER) {
    throw new StorageError("invalid_name", `"${path}" is reserved for uploads in progress`);
  }
  if (keyBytes(key) > MAX_KEY_BYTES - 1) {
    throw new StorageError("invalid_name", `Name too long for S3: "${path}"`);
  }
  return key;
}

/** The key prefix of a folder's contents, which is also its marker object. */
export function folderKey(keyPrefix: string, path: string): string {
  return path === "/" ? keyPrefix : objectKey(keyPrefix, path) + "/";
}

/** The length of a key in UTF-8 bytes, what S3 limits. */
export function keyBytes(key: string): number {
  return encoder.encode(key).length;
}

/** Percent-encode a key for `x-amz-copy-source`, keeping the slashes. */
export function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** Keys written by other tools may make names FTP cannot address. */
export function isListableName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/");
}
