/**
 * The file connector's jail and reserved names: what keeps every real path
 * inside the served folder, the server's own temporary upload names, and
 * names on disk that are not valid UTF-8.
 *
 * @module
 */

import * as realPathLib from "node:path";
import { StorageError } from "../errors.ts";

/**
 * Temporary upload files start with this. They never appear in listings, and
 * clients can neither create nor address names starting with it (550).
 */
export const TEMP_PREFIX = ".exftp-upload-";
/** What `Deno.readDir` puts where a name on disk is not valid UTF-8. */
export const REPLACEMENT = "\uFFFD";

/**
 * Refuse the server's own temporary names, to create or to address, with 550
 * and the reason (as vsftpd's `deny_file` and ProFTPD's `PathDenyFilter` do).
 */
export function checkReserved(path: string): void {
  if (!path.includes(`/${TEMP_PREFIX}`)) return;
  throw new StorageError(
    "permission_denied",
    `"${path}": names starting with ${TEMP_PREFIX} are reserved for the server's temporary uploads`,
  );
}

/**
 * Whether a name from `Deno.readDir` stands for a name on disk that is not
 * valid UTF-8: it holds U+FFFD and that exact (valid UTF-8) name is not there.
 */
export async function isUnreadableName(real: string): Promise<boolean> {
  if (!realPathLib.basename(real).includes(REPLACEMENT)) return false;
  try {
    await Deno.lstat(real);
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/** Whether `Deno.readDir` of the parent folder lists this exact name. */
export async function listedInParent(real: string): Promise<boolean> {
  const name = realPathLib.basename(real);
  try {
    for await (const entry of Deno.readDir(realPathLib.dirname(real))) {
      if (entry.name === name) return true;
    }
  } catch {
    // The parent is not there or not readable: nothing to explain.
  }
  return false;
}

/** The refusal of a path whose real path is outside the root. */
export function escaped(path: string): StorageError {
  return new StorageError("permission_denied", `"${path}" points outside the served folder`);
}

/** Whether the real path `real` is `root` or below it. */
export function isInside(root: string, real: string): boolean {
  return real === root ||
    real.startsWith(root.endsWith(realPathLib.sep) ? root : root + realPathLib.sep);
}
