/**
 * Errors that cross the boundary between storage, authentication, the data
 * layer and the protocol, and {@linkcode replyForError}: the one place where
 * any of them becomes an FTP reply, for the command pipeline and the end of a
 * transfer alike.
 *
 * @module
 */

import { AuthUnavailableError } from "./auth/types.ts";
import { isConnectionError } from "./data/connection.ts";
import { Reply, type ReplyCode } from "./replies.ts";

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

/**
 * Why a running transfer was stopped (ABOR, a stall, a timeout, shutdown, the
 * control connection closing), carried as its `AbortSignal`'s reason.
 */
export class TransferAbort extends Error {
  /** The reply that ends the transfer (426 unless the aborter says otherwise). */
  readonly code: number;

  /** Create the reason `code message`. */
  constructor(code: number, message: string) {
    super(message);
    this.name = "TransferAbort";
    this.code = code;
  }
}

/** The data connection broke while reading an upload (or ALLO's bytes never came). */
export class DataConnectionLost extends Error {
  /** Wrap the socket error. */
  constructor(options?: ErrorOptions) {
    super("Data connection lost", options);
    this.name = "DataConnectionLost";
  }
}

/** The TLS handshake on a data connection failed or timed out (PROT P). */
export class DataTlsFailed extends Error {
  /** Wrap the handshake's error. */
  constructor(options?: ErrorOptions) {
    super("Can't open data connection: TLS negotiation failed", options);
    this.name = "DataTlsFailed";
  }
}

/** A reply to send: the code and its text. */
export interface ErrorReply {
  /** The FTP reply code. */
  code: number;
  /** The reply text. */
  text: string;
}

/** Reply codes for storage failures outside a running transfer. */
const STORAGE_REPLY_CODES: Record<StorageErrorKind, ReplyCode> = {
  not_found: Reply.FileUnavailable,
  already_exists: Reply.FileUnavailable,
  permission_denied: Reply.FileUnavailable,
  not_empty: Reply.FileUnavailable,
  storage_full: Reply.InsufficientStorage,
  invalid_name: Reply.FileNameNotAllowed,
  not_a_directory: Reply.FileUnavailable,
  is_a_directory: Reply.FileUnavailable,
  io: Reply.LocalError,
};

/**
 * The replies that may end a failed transfer once 150 was sent (226 ends a
 * good one). 522 is the data connection's TLS refusal (`tls.sessionReuse:
 * require`), which comes after the handshake and so after 150, as vsftpd's
 * require_ssl_reuse does.
 */
const TRANSFER_FAILURE_CODES: ReadonlySet<number> = new Set<number>([
  Reply.CantOpenDataConnection,
  Reply.TransferAborted,
  Reply.LocalError,
  Reply.ExceededStorageAllocation,
  Reply.NetworkProtocolNotSupported,
]);

/**
 * Map any error to a reply: a command's failure (before 150) or a transfer's
 * (after 150, when only 425/426/451/552, or 522 for a data TLS refusal, may
 * follow). The only place where errors become FTP replies.
 *
 * @param error what was thrown (or the abort reason of a transfer)
 * @param duringTransfer true once `150` was sent
 */
export function replyForError(error: unknown, duringTransfer = false): ErrorReply {
  if (error instanceof FtpError || error instanceof TransferAbort) {
    if (duringTransfer && !TRANSFER_FAILURE_CODES.has(error.code)) {
      return { code: Reply.LocalError, text: `Transfer failed: ${error.message}` };
    }
    return { code: error.code, text: error.message };
  }
  if (error instanceof StorageError) {
    if (duringTransfer) {
      return {
        code: error.kind === "storage_full" ? Reply.ExceededStorageAllocation : Reply.LocalError,
        text: `Transfer failed: ${error.message}`,
      };
    }
    return { code: STORAGE_REPLY_CODES[error.kind], text: error.message };
  }
  if (error instanceof DataTlsFailed) {
    return { code: Reply.CantOpenDataConnection, text: error.message };
  }
  if (error instanceof AuthUnavailableError) {
    return duringTransfer
      ? { code: Reply.LocalError, text: "Transfer failed: authentication service not available" }
      : {
        code: Reply.ServiceNotAvailable,
        text: "Authentication service not available; closing connection",
      };
  }
  if (duringTransfer) {
    if (error instanceof DataConnectionLost || isConnectionError(error)) {
      return { code: Reply.TransferAborted, text: "Data connection lost; transfer aborted" };
    }
    return { code: Reply.LocalError, text: "Transfer failed: local error in processing" };
  }
  return { code: Reply.LocalError, text: "Requested action aborted: local error in processing" };
}
