/**
 * Typed lifecycle events of {@linkcode FtpServer}.
 *
 * @module
 */

/** A session event's common details. */
export interface SessionEventDetail {
  /** Session id, unique per server. */
  sessionId: string;
  /** The client's address. */
  remoteAddress: string;
  /** The logged-in user name, if any. */
  username?: string;
}

/** What a transfer did. */
export type TransferKind =
  | "upload"
  | "download"
  | "listing"
  | "delete"
  | "rename"
  | "mkdir";

/** Details of a finished (or failed) transfer or file operation. */
export interface TransferEventDetail extends SessionEventDetail {
  /** The kind of operation. */
  kind: TransferKind;
  /** The FTP command that started it (RETR, STOR, APPE, LIST, DELE, RNTO…). */
  command: string;
  /** The virtual path (the new name of a rename). */
  path: string;
  /** The old name, for a rename. */
  from?: string;
  /** Bytes moved. */
  bytes: number;
  /** Duration in milliseconds. */
  durationMs: number;
  /** `ok`, or why it failed. */
  outcome: "ok" | "failed" | "aborted";
  /** The error text for failures. */
  error?: string;
  /**
   * A stored upload's checksums, computed while it streamed: lowercase hex by
   * algorithm (`SHA-256` and `CRC32`). Only for uploads that
   * replaced the whole file (not APPE or REST + STOR).
   */
  checksums?: Record<string, string>;
}

/** Every event the server dispatches, by name. */
export interface FtpServerEventMap {
  /** A client connected. */
  "session-open": CustomEvent<SessionEventDetail>;
  /** A client disconnected or was disconnected. */
  "session-close": CustomEvent<SessionEventDetail>;
  /** A login succeeded. */
  login: CustomEvent<SessionEventDetail>;
  /** A login failed. */
  "login-failed": CustomEvent<SessionEventDetail>;
  /**
   * The authenticator could not decide (its service is down): a login or a
   * re-validation was answered 421. Never counted as a failed login.
   */
  "auth-unavailable": CustomEvent<SessionEventDetail>;
  /** A transfer or file operation finished with success. */
  "transfer-complete": CustomEvent<TransferEventDetail>;
  /** A transfer or file operation failed or was aborted. */
  "transfer-failed": CustomEvent<TransferEventDetail>;
  /** PASV/EPSV found every passive port in use (the client got 425). */
  "passive-ports-exhausted": CustomEvent<SessionEventDetail>;
}
