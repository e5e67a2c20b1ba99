/**
 * One transfer's data side: what a command hands over ({@linkcode TransferRequest}),
 * its live counters ({@linkcode TransferProgress}), and {@linkcode runTransfer},
 * which opens the data connection, moves the data under a stall watchdog,
 * closes cleanly and says which reply ends it. The session sends 150 before
 * and that reply after; nothing here knows the session.
 *
 * @module
 */

import { replyForError, StorageError, TransferAbort } from "../errors.ts";
import type { ErrorReply } from "../errors.ts";
import type { TransferKind } from "../events.ts";
import { Reply } from "../replies.ts";
import { openDataChannel } from "./channel.ts";
import type { DataChannelOptions, DataSetup } from "./channel.ts";
import { type ByteConnection, closeQuietly } from "./connection.ts";

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
  /** An upload's checksums, for the event of its success (computed while it streamed). */
  checksums?(): Record<string, string> | undefined;
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

/** Options of {@linkcode runTransfer}. */
export interface RunTransferOptions {
  /** How the data connection is opened and protected. */
  channel: DataChannelOptions;
  /** Abort with 426 when no byte moved for this long. */
  stallTimeoutMs: number;
}

/** How a transfer ended, and the reply that says so. */
export interface TransferOutcome {
  /** `ok`, `aborted` (its signal fired: ABOR, a stall, shutdown…) or `failed`. */
  outcome: "ok" | "aborted" | "failed";
  /** The final reply (226, or what {@linkcode replyForError} makes of the failure). */
  reply: ErrorReply;
  /** What went wrong (the abort reason when aborted); unset when `ok`. */
  failure?: unknown;
}

/**
 * Run `request` over the data connection of `setup`: the stall watchdog and
 * any abort of `controller` (with a {@linkcode TransferAbort} reason) close the
 * connection under it; a finished transfer is closed gracefully (TLS
 * close_notify) before 226. Calls `request.release` once; rejects only if it throws.
 */
export async function runTransfer(
  request: TransferRequest,
  setup: DataSetup,
  controller: AbortController,
  progress: TransferProgress,
  options: RunTransferOptions,
): Promise<TransferOutcome> {
  const { signal } = controller;
  let connection: ByteConnection | undefined;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const closeOnAbort = () => closeQuietly(connection);
  try {
    try {
      connection = await openDataChannel(setup, options.channel, signal);
    } catch (error) {
      throw signal.aborted ? signal.reason : error;
    }
    signal.addEventListener("abort", closeOnAbort, { once: true });
    const stallMs = options.stallTimeoutMs;
    watchdog = setInterval(() => {
      if (Date.now() - progress.lastActivity >= stallMs) {
        controller.abort(
          new TransferAbort(Reply.TransferAborted, "Transfer stalled: no data moved in time"),
        );
      }
    }, Math.max(10, Math.min(1000, stallMs / 4)));
    progress.lastActivity = Date.now();
    const bytes = await request.run(connection, signal, progress);
    signal.throwIfAborted();
    await connection.closeGracefully?.();
    signal.throwIfAborted();
    closeQuietly(connection);
    return {
      outcome: "ok",
      reply: { code: Reply.TransferComplete, text: `Transfer complete (${bytes} bytes)` },
    };
  } catch (error) {
    const failure = signal.aborted ? signal.reason : error;
    return {
      outcome: signal.aborted ? "aborted" : "failed",
      reply: replyForError(failure, true),
      failure,
    };
  } finally {
    clearInterval(watchdog);
    signal.removeEventListener("abort", closeOnAbort);
    closeQuietly(connection);
    request.release?.();
  }
}

/**
 * Work that runs beside the control loop like a transfer, stopped by ABOR and
 * shown by STAT, but with no data connection and no 150 (HASH reading a
 * large file): `run` resolves with the final reply.
 */
export interface TaskRequest {
  /** The command (HASH, XCRC…). */
  readonly command: string;
  /** The virtual path concerned. */
  readonly path: string;
  /** Do the work, counting bytes in `progress`; resolve with the final reply. */
  run(signal: AbortSignal, progress: TransferProgress): Promise<ErrorReply>;
}

/** Run a {@linkcode TaskRequest}; an abort or failure becomes its reply. Never rejects. */
export async function runTask(
  request: TaskRequest,
  controller: AbortController,
  progress: TransferProgress,
): Promise<TransferOutcome> {
  const { signal } = controller;
  try {
    const reply = await request.run(signal, progress);
    signal.throwIfAborted();
    return { outcome: "ok", reply };
  } catch (error) {
    const failure = signal.aborted ? signal.reason : error;
    return {
      outcome: signal.aborted ? "aborted" : "failed",
      reply: replyForError(failure, true),
      failure,
    };
  }
}

/** Whether a transfer's failure is worth an error log (a bug or a broken dependency). */
export function isUnexpectedTransferFailure(result: TransferOutcome): boolean {
  return result.reply.code === Reply.LocalError && !(result.failure instanceof StorageError);
}
