/**
 * The session's side of a transfer that runs beside its control loop: the
 * data channel's options for this session, and what follows the transfer
 * (its event, its log line, its final reply); and the event of a file
 * operation without a data connection. Split from `session.ts`, which keeps
 * the running transfer itself.
 *
 * @module
 */

import type { SecureContext } from "node:tls";
import type { DataChannelOptions, DataSetup } from "./data/channel.ts";
import {
  isUnexpectedTransferFailure,
  runTask,
  runTransfer,
  type TaskRequest,
  type TransferProgress,
  type TransferRequest,
} from "./data/transfer.ts";
import type { SessionEventDetail, TransferEventDetail, TransferKind } from "./events.ts";
import type { SessionContext } from "./session_context.ts";

/** A transfer (or task) running beside the control loop. */
export interface RunningTransfer {
  readonly request: Pick<TransferRequest, "command" | "path">;
  readonly progress: TransferProgress;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** What a transfer needs of its session. */
export interface TransferHost {
  readonly context: SessionContext;
  readonly eventDetail: SessionEventDetail;
  /** PROT: `C` clear data connections, `P` private (TLS). */
  readonly protection: "C" | "P";
  readonly tlsContext?: SecureContext;
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void;
  /** Send a reply; `after`: it goes out (in its turn) once that settles. */
  reply(code: number, text: string | readonly string[], after?: Promise<void>): Promise<void>;
  /** The transfer is over (before its event and final reply): the session is no longer busy. */
  transferEnded(): void;
}

/** Move the data, then emit the event, log and send the final reply. */
export async function runTransferBeside(
  host: TransferHost,
  request: TransferRequest,
  setup: DataSetup,
  controller: AbortController,
  progress: TransferProgress,
): Promise<void> {
  const result = await runTransfer(request, setup, controller, progress, {
    channel: dataChannelOptions(host),
    stallTimeoutMs: host.context.options.dataStallTimeoutMs,
  });
  const { outcome, reply, failure } = result;
  if (isUnexpectedTransferFailure(result)) {
    host.log("error", `${request.command} failed`, { error: String(failure) });
  }
  host.transferEnded();
  const detail: TransferEventDetail = {
    ...host.eventDetail,
    kind: request.kind,
    command: request.command,
    path: request.path,
    bytes: progress.bytes,
    durationMs: Date.now() - progress.startedAt,
    outcome,
    error: failure === undefined ? undefined : reply.text,
    checksums: outcome === "ok" ? request.checksums?.() : undefined,
  };
  const recording = host.context.emit(
    outcome === "ok" ? "transfer-complete" : "transfer-failed",
    detail,
  );
  if (request.kind !== "listing" || outcome !== "ok") {
    host.log(outcome === "ok" ? "info" : "warn", `${request.command} ${outcome}`, {
      path: request.path,
      bytes: progress.bytes,
      ms: detail.durationMs,
      reply: reply.code,
    });
  }
  // The reply takes its place among the replies at once (a command the client
  // sends before reading it is answered after it), and goes out once the event
  // is recorded.
  const after = recording ? recorded(host, recording) : undefined;
  await host.reply(reply.code, reply.text, after).catch(() => {});
}

/** How long a final reply waits for its event to reach the webhook outbox. */
const RECORDING_WAIT_MS = 5000;

/**
 * Wait until an event is durably recorded before the reply that reports its
 * outcome, but never longer than {@linkcode RECORDING_WAIT_MS} (a stuck outbox
 * write must not hold the client).
 */
export async function recorded(
  host: Pick<TransferHost, "log">,
  recording: Promise<void> | undefined,
): Promise<void> {
  if (!recording) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) =>
    timer = setTimeout(resolve, RECORDING_WAIT_MS, "late")
  );
  try {
    if (await Promise.race([recording, late]) === "late") {
      host.log("warn", "The event outbox is slow: replying before the event is written", {
        waited_ms: RECORDING_WAIT_MS,
      });
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Run a task (HASH) like a transfer, without a data connection; then log and reply. */
export async function runTaskBeside(
  host: TransferHost,
  request: TaskRequest,
  controller: AbortController,
  progress: TransferProgress,
): Promise<void> {
  const { outcome, reply } = await runTask(request, controller, progress);
  host.transferEnded();
  host.log(outcome === "ok" ? "info" : "warn", `${request.command} ${outcome}`, {
    path: request.path,
    bytes: progress.bytes,
    reply: reply.code,
  });
  await host.reply(reply.code, reply.text).catch(() => {});
}

/** How the host's data connections are opened and protected (PROT P needs TLS). */
function dataChannelOptions(host: TransferHost): DataChannelOptions {
  const { options } = host.context;
  return {
    tls: host.protection === "P" && host.tlsContext
      ? { context: host.tlsContext, sessionReuse: options.tls?.sessionReuse ?? "off" }
      : undefined,
    timeoutMs: options.passiveAcceptTimeoutMs,
    log: (level, message) => host.log(level, message),
  };
}

/**
 * Emit the event of a file operation that has no data connection (DELE,
 * RNTO…). The caller logs it, with the reason of a refusal.
 */
export function emitOperation(
  host: Pick<TransferHost, "context" | "eventDetail" | "log">,
  kind: TransferKind,
  command: string,
  path: string,
  error?: unknown,
  from?: string,
): Promise<void> {
  const detail: TransferEventDetail = {
    ...host.eventDetail,
    kind,
    command,
    path,
    ...(from === undefined ? {} : { from }),
    bytes: 0,
    durationMs: 0,
    outcome: error === undefined ? "ok" : "failed",
    error: error === undefined ? undefined : String(error),
  };
  return recorded(
    host,
    host.context.emit(error === undefined ? "transfer-complete" : "transfer-failed", detail),
  );
}
