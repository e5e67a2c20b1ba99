/**
 * The contract between the session and the command handlers: the narrow
 * {@linkcode CommandContext} a handler is given (like ftpserverlib's
 * `ClientContext` or hono's `Context`), the small {@linkcode CommandState} it
 * may change, and the shape of one {@linkcode CommandSpec} of the table.
 *
 * A handler sees only this context, never the session: it can be run against
 * any implementation of it (the session, or the in-process harness in
 * `src/testing/harness.ts`).
 *
 * @module
 */

import type { AuthContext, FtpUser } from "../auth/types.ts";
import { type ChecksumAlgorithm, DEFAULT_CHECKSUM_ALGORITHM } from "../checksums/algorithms.ts";
import type { DataSetup } from "../data/channel.ts";
import type { NetAddress } from "../data/connection.ts";
import type { DataListener } from "../data/passive.ts";
import type { TaskRequest, TransferProgress, TransferRequest } from "../data/transfer.ts";
import type { FtpServerEventMap, SessionEventDetail, TransferKind } from "../events.ts";
import { MLST_FACTS, type MlstFact } from "../listing/format.ts";
import type { LoginGuard } from "../login_guard.ts";
import type { Action, PermissionCheck } from "../policy/permissions.ts";
import type { SessionLimits } from "../cluster/session_limits.ts";
import type { SharedState } from "../cluster/state.ts";
import type { ResolvedOptions } from "../options.ts";
import type { StorageConnector } from "../storage/types.ts";

/**
 * The per-session settings that commands read and change, in one object
 * (the rest of the session's state is its own).
 */
export interface CommandState {
  /** Current virtual folder. */
  cwd: string;
  /** Name given by USER, waiting for PASS. */
  pendingUsername?: string;
  /** Failed PASS attempts in this session. */
  loginFailures: number;
  /** `A` (ASCII, CRLF on the wire) or `I` (binary). */
  transferType: "A" | "I";
  /** Offset set by REST for the next RETR/STOR. */
  restOffset: number;
  /** Bytes announced by ALLO for the next upload (fewer arriving is a failure). */
  announcedBytes: number;
  /** Source path set by RNFR. */
  renameFrom?: string;
  /** After EPSV ALL, PORT/EPRT/PASV are refused. */
  epsvAll: boolean;
  /** PBSZ was given (required before PROT). */
  protectionBufferSizeSet: boolean;
  /** PROT: `C` clear data connections, `P` private (TLS). */
  protection: "C" | "P";
  /** The facts MLSD/MLST send (OPTS MLST replaces the set; it is never changed). */
  mlstFacts: ReadonlySet<MlstFact>;
  /** The algorithm HASH uses (OPTS HASH selects it). */
  hashAlgorithm: ChecksumAlgorithm;
}

/** Every session's facts until OPTS MLST: one set for all (about 400 bytes each). */
const ALL_MLST_FACTS: ReadonlySet<MlstFact> = new Set(MLST_FACTS);

/** A fresh session's {@linkcode CommandState}. */
export function initialCommandState(): CommandState {
  return {
    cwd: "/",
    loginFailures: 0,
    transferType: "A",
    restOffset: 0,
    announcedBytes: 0,
    epsvAll: false,
    protectionBufferSizeSet: false,
    protection: "C",
    mlstFacts: ALL_MLST_FACTS,
    hashAlgorithm: DEFAULT_CHECKSUM_ALGORITHM,
  };
}

/** A running transfer as STAT reports it. */
export interface RunningTransferView {
  /** What was asked for. */
  readonly request: Pick<TransferRequest, "command" | "path">;
  /** Its live counters. */
  readonly progress: TransferProgress;
}

/**
 * What a command handler is given: one session's view, and nothing else of it.
 * Call its methods on it (`context.log(…)`); never pass one detached
 * (`f(context.log)`): the session's context is a class, so a detached method
 * loses its `this` (a detached `log` once turned every before-upload refusal
 * into a 451).
 */
export interface CommandContext {
  /** The client's address. */
  readonly remote: NetAddress;
  /** The server end of the control connection. */
  readonly local: NetAddress;
  /** The server's settings. */
  readonly options: ResolvedOptions;
  /** The command table (HELP and FEAT are generated from it). */
  readonly commands: ReadonlyMap<string, CommandSpec>;
  /** The settings commands change (TYPE, REST, RNFR, PROT, OPTS MLST…). */
  readonly state: CommandState;

  /** The logged-in user, if any. */
  readonly user: FtpUser | undefined;
  /** The user's storage; throws a 530 before login (every caller is behind `needsLogin`). */
  readonly storage: StorageConnector;
  /**
   * Whether this session's storage has an optional capability. Before login,
   * with a per-user provider, the answer is not known yet: assume yes, so FEAT
   * (which clients send first) still advertises it.
   */
  storageCan(method: "setModifiedTime" | "chmod"): boolean;
  /** Resolve a client path against the current folder. */
  resolvePath(argument: string): string;

  /** Send one reply (multi-line when `text` has several lines). Replies never interleave. */
  reply(code: number, text: string | readonly string[]): Promise<void>;
  /** Log through the server's logger with this session's id, client and user. */
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void;
  /** Dispatch a server event; a promise while it is being durably recorded (see `SessionContext.emit`). */
  emit<K extends keyof FtpServerEventMap>(
    type: K,
    detail: FtpServerEventMap[K]["detail"],
  ): Promise<void> | undefined;
  /** This session's part of every event's details. */
  readonly eventDetail: SessionEventDetail;
  /**
   * Emit an event for a file operation that has no data connection (DELE,
   * RNTO…). The caller logs it, with the reason of a refusal.
   */
  recordOperation(
    kind: TransferKind,
    command: string,
    path: string,
    error?: unknown,
    from?: string,
  ): Promise<void>;

  /** Failed logins per address, across sessions. */
  readonly loginGuard: Pick<LoginGuard, "isBanned" | "recordFailure">;
  /** Sessions per user, taken at login (per address at connect, by the server). */
  readonly sessionLimits: Pick<SessionLimits, "admitUser" | "release">;
  /** What the server's sessions share (quota usage; Redis with `cluster`). */
  readonly sharedState: SharedState;
  /** The context handed to the authenticator. */
  readonly authContext: AuthContext;
  /** Mark the session as logged in (replies 230). */
  logIn(user: FtpUser, storage: StorageConnector): Promise<void>;
  /** End the session after the current reply (QUIT and fatal conditions). */
  close(): void;

  /** The control connection speaks TLS. */
  readonly tlsActive: boolean;
  /** AUTH TLS: reply 234 and run the handshake on the control connection. */
  upgradeToTls(): Promise<void>;

  /** How the next data connection is made (set by PASV, EPSV, PORT, EPRT). */
  dataSetup: DataSetup | undefined;
  /** Forget the pending data connection (closing a pending listener). */
  clearDataSetup(): void;
  /**
   * Open a passive listener for this session's client on the control
   * connection's local address (plain or TLS as PROT says), expiring after
   * the passive accept timeout.
   */
  listenPassive(): Promise<DataListener>;
  /**
   * Start a transfer whose checks passed: send 150 and move the data beside the
   * control loop. Without a data connection set up, throws a 425 instead.
   */
  startTransfer(request: TransferRequest): Promise<void>;
  /**
   * Run work beside the control loop like a transfer (ABOR stops it, STAT
   * shows it, other commands wait for it) but with no data connection and no
   * 150: HASH reading a large file. Its final reply is the one `run` gives.
   */
  startTask(request: TaskRequest): void;
  /** Abort the running transfer (426 follows) and wait for its final reply. */
  abortTransfer(code?: number, text?: string): Promise<boolean>;
  /** Wait for the running transfer, and the commands queued behind it, to end. */
  waitForTransfer(): Promise<void>;
  /** The running transfer, if any. */
  readonly transferProgress: RunningTransferView | undefined;
  /** A transfer runs, or commands wait for one. */
  readonly busy: boolean;
}

/**
 * Which permission a command needs on which path: the pipeline's 550 step
 * refuses it before the handler runs (so before any 150), for every connector.
 */
export interface PermissionRule {
  /** Every action it may need (HELP names them). */
  readonly actions: readonly Action[];
  /**
   * What this argument needs where. May look at storage (STOR needs
   * `overwrite` when the target exists, `upload` when not).
   */
  readonly checks: (
    context: CommandContext,
    argument: string,
  ) => readonly PermissionCheck[] | Promise<readonly PermissionCheck[]>;
}

/** Whether a command takes an argument. */
export type ArgumentRule = "none" | "required" | "optional";

/** One FTP command: its rules, its help, its FEAT line, and its handler. */
export interface CommandSpec {
  /** Usage shown by HELP, e.g. `RETR <path>`. */
  readonly syntax: string;
  /** What it does, for HELP. */
  readonly help: string;
  /** Refused with 530 before login. */
  readonly needsLogin: boolean;
  /** Argument rule, checked before the handler runs (501). */
  readonly argument: ArgumentRule;
  /** Refused with 550 for read-only users. */
  readonly changesStorage?: boolean;
  /** What the user must be allowed, where (checked after 502, before the handler → 550). */
  readonly permission?: PermissionRule;
  /** Served at once while a transfer runs (ABOR, STAT, QUIT); others wait for it. */
  readonly duringTransfer?: boolean;
  /**
   * A RNFR pending before this command survives it (only RNTO, which consumes
   * it); every other command, even a refused one, ends it (RNFR then sets a new one).
   */
  readonly keepsRenameFrom?: boolean;
  /** The FEAT line(s) this command adds for this session, if any. */
  readonly feature?: (context: CommandContext) => string | string[] | undefined;
  /** Whether the session can serve it at all (e.g. the connector lacks a capability) → 502. */
  readonly available?: (context: CommandContext) => boolean;
  /** Serve the command; throw an `FtpError` or `StorageError` to reply with an error. */
  readonly handle: (context: CommandContext, argument: string) => void | Promise<void>;
}
