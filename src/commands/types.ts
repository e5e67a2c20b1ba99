/**
 * The shape of one entry of the command table.
 *
 * @module
 */

import type { Session } from "../session.ts";

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
  /** Served at once while a transfer runs (ABOR, STAT, QUIT); others wait for it. */
  readonly duringTransfer?: boolean;
  /** A RNFR pending before this command survives it (only RNTO and RNFR itself). */
  readonly keepsRenameFrom?: boolean;
  /** The FEAT line(s) this command adds for this session, if any. */
  readonly feature?: (session: Session) => string | string[] | undefined;
  /** Whether the session can serve it at all (e.g. the connector lacks a capability) → 502. */
  readonly available?: (session: Session) => boolean;
  /** Serve the command; throw an `FtpError` or `StorageError` to reply with an error. */
  readonly handle: (session: Session, argument: string) => void | Promise<void>;
}
