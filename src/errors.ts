/**
 * Errors that cross the boundary between storage, authentication and the
 * protocol, and the one place where they become FTP reply codes.
 *
 * @module
 */

/** What went wrong in a storage connector, independent of the backend. */
export type StorageErrorKind =
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "not_empty"
  | "storage_full"
  | "invalid_name"
  | "not_a_directory"
  | "is_a_directory"
  | "io";

/**
 * An error a {@linkcode StorageConnector} throws so that the server can answer
 * the client with the right reply code.
 *
 * @example
 * ```ts
 * import { StorageError } from "@exftp/server";
 * throw new StorageError("not_found", "No such file \"/a.txt\"");
 * ```
 */
export class StorageError extends Error {
  /** The kind of failure. */
  readonly kind: StorageErrorKind;

  /** Create a storage error of the given kind. */
  constructor(kind: StorageErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageError";
    this.kind = kind;
  }
}

/**
 * A failure with a ready FTP reply. Handlers throw it; the session turns it
 * into exactly one reply.
 */
export class FtpError extends Error {
  /** The FTP reply code, e.g. 550. */
  readonly code: number;

  /** Create an error that becomes the reply `code message`. */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FtpError";
    this.code = code;
  }
}

/** Reply codes for storage failures outside a running transfer. */
const STORAGE_REPLY_CODES: Record<StorageErrorKind, number> = {
  not_found: 550,
  already_exists: 550,
  permission_denied: 550,
  not_empty: 550,
  storage_full: 452,
  invalid_name: 553,
  not_a_directory: 550,
  is_a_directory: 550,
  io: 451,
};

/**
 * Map any error thrown while serving a command to a reply code and text. This
 * is the only place where storage errors become FTP replies.
 *
 * @param error what was thrown
 * @param duringTransfer true once `150` was sent: then only 426/451/552 may follow
 */
export function replyForError(
  error: unknown,
  duringTransfer = false,
): { code: number; text: string } {
  if (error instanceof FtpError) return { code: error.code, text: error.message };
  if (error instanceof StorageError) {
    if (duringTransfer) {
      return {
        code: error.kind === "storage_full" ? 552 : 451,
        text: `Transfer failed: ${error.message}`,
      };
    }
    return { code: STORAGE_REPLY_CODES[error.kind], text: error.message };
  }
  if (duringTransfer) return { code: 451, text: "Transfer failed: local error in processing" };
  return { code: 451, text: "Requested action aborted: local error in processing" };
}
