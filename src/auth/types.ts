/**
 * The authenticator interface.
 *
 * @module
 */

import type { LogLevel } from "../log.ts";

/**
 * The user a successful login produces. It is handed to the session's storage
 * provider, so connectors can scope storage by user; authenticators may add
 * fields such as a home folder, permissions or a quota.
 */
export interface FtpUser {
  /** The login name. */
  username: string;
  /** Refuse every command that changes storage. */
  readOnly?: boolean;
  /**
   * A folder of the storage that becomes this user's `/` (created when
   * missing). The user can never reach above it.
   */
  home?: string;
  /**
   * What the user may do below each virtual folder, the deepest match
   * winning: `{ "/": ["list", "download"], "/incoming": ["list", "upload"] }`.
   * Absent: everything (within `readOnly`).
   */
  permissions?: Readonly<Record<string, readonly Permission[]>>;
  /** Most bytes the user may store over their home, across every session and node. */
  quotaBytes?: number;
  /** Most files the user may store over their home. */
  quotaFiles?: number;
  /** Largest single upload, in bytes. */
  maxUploadBytes?: number;
  /** Download budget in bytes per second, shared by all of the user's sessions. */
  downloadBytesPerS?: number;
  /** Upload budget in bytes per second, shared by all of the user's sessions. */
  uploadBytesPerS?: number;
  /** Most sessions of this user at once (across nodes with `cluster`). */
  maxSessions?: number;
  /** Other storage mounted into the user's tree. */
  folders?: readonly FolderMount[];
  /** Anything else the authenticator wants the storage to know. */
  [field: string]: unknown;
}

/** One thing a user may do below a folder (`*`: all of them). */
export type Permission =
  | "list"
  | "download"
  | "upload"
  | "overwrite"
  | "delete"
  | "rename"
  | "mkdir"
  | "rmdir"
  | "chmod"
  | "*";

/** A virtual folder backed by a named storage of the config's `storages`. */
export interface FolderMount {
  /** Where it appears in the user's tree, e.g. `/archive`. */
  path: string;
  /** The name of an entry of `storages`. */
  storage: string;
  /** Refuse every change below it. */
  readOnly?: boolean;
}

/** What an authenticator may use besides the credentials. */
export interface AuthContext {
  /** Log a line attributed to the session (never pass a password). */
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** What a client presented at USER/PASS time. */
export interface Credentials {
  /** The USER argument (may be empty). */
  username: string;
  /** The PASS argument (may be empty). Never log it. */
  password: string;
  /** The client's IP address. */
  remoteAddress: string;
}

/**
 * Thrown by an authenticator (from `authenticate` or `isStillValid`) when it
 * can't decide because what it asks is out of service: unreachable, timed
 * out, or answering 5xx. The session then answers `421` and closes, logs the
 * reason at error level and counts it in `exftp_auth_unavailable_total`; it
 * is never counted as a failed login, towards `max_login_failures` or a ban.
 * The message must not hold a secret.
 *
 * @example
 * ```ts
 * import { AuthUnavailableError } from "@exftp/server";
 * const error = new AuthUnavailableError("https://auth.example.com/login: HTTP 503");
 * console.assert(error.name === "AuthUnavailableError");
 * ```
 */
export class AuthUnavailableError extends Error {
  /** Make one; `message` says why no decision could be made, without secrets. */
  constructor(message: string) {
    super(message);
    this.name = "AuthUnavailableError";
  }
}

/**
 * Whether `error` is an {@linkcode AuthUnavailableError}, also one of another
 * copy of this module (told by its `name`): a custom authenticator run by the
 * bundle, a compiled binary or another version imports its own class, and its
 * outage must not count as a wrong password.
 */
export function isAuthUnavailable(error: unknown): error is Error {
  return error instanceof AuthUnavailableError ||
    (error instanceof Error && error.name === "AuthUnavailableError");
}

/**
 * Decides who may log in. Login state always lives in the session: an
 * authenticator must not let one connection in because another logged in.
 *
 * Implement `authenticate` (one method is enough); the user it resolves with
 * is what the storage provider receives, so fields such as `home` or
 * `readOnly` reach the session. The built-in ones are `UsersFileAuthenticator`,
 * the HTTP ones (`BasicAuthenticator`, `BearerAuthenticator`,
 * `DigestAuthenticator`, `WebhookAuthenticator`), and for tests
 * `PassthroughAuthenticator` and `NoAuthAuthenticator`.
 *
 * @example A fixed table of users, some read-only
 * ```ts
 * import type { Authenticator, Credentials, FtpUser } from "@exftp/server";
 * import { FtpServer, MemoryStorage } from "@exftp/server";
 *
 * class TableAuthenticator implements Authenticator {
 *   readonly #users = new Map([
 *     ["alice", { password: "wonderland", readOnly: false }],
 *     ["guest", { password: "guest", readOnly: true }],
 *   ]);
 *
 *   authenticate({ username, password }: Credentials): Promise<FtpUser | null> {
 *     const entry = this.#users.get(username);
 *     // Compare in constant time in real code (see verifyPassword).
 *     if (!entry || entry.password !== password) return Promise.resolve(null);
 *     return Promise.resolve({ username, readOnly: entry.readOnly, home: `/${username}` });
 *   }
 * }
 *
 * const authenticator = new TableAuthenticator();
 * const guest = await authenticator.authenticate({
 *   username: "guest",
 *   password: "guest",
 *   remoteAddress: "127.0.0.1",
 * });
 * console.assert(guest?.readOnly === true);
 *
 * await using server = new FtpServer({ port: 0, authenticator, storage: new MemoryStorage() });
 * ```
 */
export interface Authenticator {
  /**
   * Resolve with the user on success, `null` on refusal. Throw
   * {@linkcode AuthUnavailableError} when no decision can be made (the
   * service is down): the client gets 421, and no failure is counted. Any
   * other throw counts as a refusal.
   */
  authenticate(credentials: Credentials, context?: AuthContext): Promise<FtpUser | null>;
  /**
   * Re-check a logged-in user (for revocation) before a command that needs a
   * login, at most once per {@linkcode revalidateEveryMs} per session; `false`
   * (or throwing) ends that session with 421 (an {@linkcode AuthUnavailableError}
   * is logged and counted as an outage).
   */
  isStillValid?(user: FtpUser, context?: AuthContext): Promise<boolean>;
  /** How often {@linkcode isStillValid} is asked per session. @default {0} (before every command) */
  readonly revalidateEveryMs?: number;
  /** Shown in the log at start-up, e.g. a warning that everyone may log in. */
  readonly warning?: string;
  /**
   * The password alone may identify the user (a bearer token), so PASS may
   * come without USER; the session then passes an empty user name, and the
   * authenticator must name the user itself (or refuse).
   * @default {false}
   */
  readonly usernameOptional?: boolean;
}
