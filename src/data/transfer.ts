/**
 * One transfer's data side: what a command hands over ({@linkcode TransferRequest})
 * and its live counters ({@linkcode TransferProgress}). (The "data" branch of
 * issue 11 moves the transfer runner here too; on this branch it holds the types.)
 *
 * @module
 */

import type { TransferKind } from "../events.ts";
import type { ByteConnection } from "./connection.ts";

/** A transfer that a command handler hands to the session after its checks passed. */
export interface TransferRequest {
  /** The command (RETR, STOR, LIST…). */
  readonly command: string;
  /** For events and logs. */
  readonly kind: TransferKind;
  /** The virtual path concerned. */
  readonly path: string;
  /** The text of the 150 reply. */
  readonly openingText: string;
  /** Move the data; resolve with the number of bytes. */
  run(connection: ByteConnection, signal: AbortSignal, progress: TransferProgress): Promise<number>;
  /** Called exactly once when the transfer ended or never started (release sources). */
  release?(): void;
}

/** Live counters of a running transfer (STAT, stall detection). */
export class TransferProgress {
  /** Bytes moved so far. */
  bytes = 0;
  /** When a byte last moved (ms since epoch). */
  lastActivity: number = Date.now();
  /** When the transfer started. */
  readonly startedAt: number = Date.now();

  /** Count `n` more bytes. */
  add(n: number): void {
    this.bytes += n;
    this.lastActivity = Date.now();
  }
}
