/**
 * The JSON body of one webhook event, made from a server event.
 *
 * @module
 */

import type { SessionEventDetail, TransferEventDetail } from "../events.ts";
import type { WebhookEventType } from "./options.ts";

/** What a webhook receives (the POST body), field by field. */
export interface WebhookEventBody {
  /** Unique per event and the same on every attempt: de-duplicate on it. */
  id: string;
  /** What happened. */
  type: WebhookEventType;
  /** When it happened (ISO 8601, UTC). */
  timestamp: string;
  /** The user (the name tried, for `login_failed`), or null. */
  user: string | null;
  /** The client's IP address. */
  client: string;
  /** The FTP session's id. */
  session: string;
  /** The FTP command (`STOR`, `RETR`, `DELE`, `RNTO`, `MKD`, `RMD`); absent for logins. */
  command?: string;
  /** The virtual path (the new name for `rename`). */
  path?: string;
  /** The old name, for `rename`. */
  from?: string;
  /** Bytes moved (0 for operations without data). */
  bytes?: number;
  /** How long it took, in ms. */
  duration_ms?: number;
  /** `ok`, `failed` or `aborted` (logins: `ok`, `login_failed`: `failed`). */
  outcome: "ok" | "failed" | "aborted";
  /** Why it failed. */
  error?: string;
  /** Checksums of the stored bytes by algorithm (`sha256` → hex), when known. */
  checksums?: Record<string, string>;
}

/** The webhook type of a transfer or file operation, or none (listings). */
export function transferEventType(detail: TransferEventDetail): WebhookEventType | undefined {
  switch (detail.kind) {
    case "upload":
    case "download":
    case "rename":
      return detail.kind;
    case "delete":
      return detail.command === "RMD" || detail.command === "XRMD" ? "rmdir" : "delete";
    case "mkdir":
      return "mkdir";
    default:
      return undefined;
  }
}

function common(type: WebhookEventType, detail: SessionEventDetail) {
  return {
    id: crypto.randomUUID(),
    type,
    timestamp: new Date().toISOString(),
    user: detail.username ?? null,
    client: detail.remoteAddress,
    session: detail.sessionId,
  };
}

/** The body of a transfer or file-operation event. */
export function transferEventBody(
  type: WebhookEventType,
  detail: TransferEventDetail,
): WebhookEventBody {
  const { checksums } = detail as { checksums?: Record<string, string> };
  return {
    ...common(type, detail),
    command: detail.command,
    path: detail.path,
    ...(detail.from === undefined ? {} : { from: detail.from }),
    bytes: detail.bytes,
    duration_ms: detail.durationMs,
    outcome: detail.outcome,
    ...(detail.error === undefined ? {} : { error: detail.error }),
    ...(checksums && Object.keys(checksums).length ? { checksums } : {}),
  };
}

/** The body of a `login` or `login_failed` event. */
export function loginEventBody(
  type: "login" | "login_failed",
  detail: SessionEventDetail,
): WebhookEventBody {
  return { ...common(type, detail), outcome: type === "login" ? "ok" : "failed" };
}
