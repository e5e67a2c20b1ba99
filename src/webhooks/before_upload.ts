/**
 * The before-upload check: before an upload's 150, exftp POSTs what is about
 * to be stored (user, path, size when ALLO announced it, client) to
 * `before_upload_url`, signed like the events. A 2xx allows it, unless its
 * body is JSON with `"allow": false`; any other answer (4xx, a redirect —
 * never followed) refuses it with 553. A service that cannot be asked (no
 * answer within the timeout, a network error, a 5xx) refuses it with 451:
 * the check fails closed, and 451 tells the client to try again later.
 *
 * @module
 */

import { redactUrl } from "../http_url.ts";
import { FtpError } from "../errors.ts";
import type { SessionEventDetail } from "../events.ts";
import { Reply } from "../replies.ts";
import { VERSION } from "../version.ts";
import { type EventWebhookOptions, resolveWebhookOptions } from "./options.ts";
import { SIGNATURE_HEADER, signWebhook } from "./signature.ts";
import { readLimitedText } from "../http_body.ts";

/** What the before-upload service is asked about. */
export interface UploadIntent {
  /** The session's details (user, client address, session id). */
  session: SessionEventDetail;
  /** `STOR`, `APPE` or `STOU`. */
  command: string;
  /** The virtual path to be written. */
  path: string;
  /** The size announced by ALLO, when the client sent one. */
  size?: number;
  /** The REST offset the upload starts at (0 for a whole file). */
  offset: number;
}

/** Most bytes of the service's answer read (the refusal reason). */
const MAX_ANSWER_BYTES = 4096;

const resolved = new WeakMap<EventWebhookOptions, ReturnType<typeof resolveWebhookOptions>>();

/**
 * Ask `beforeUploadUrl` whether the upload may start; resolves when it may,
 * throws an {@linkcode FtpError} (553 refused, 451 service unusable) when not.
 * Does nothing without a `beforeUploadUrl`.
 */
export async function checkBeforeUpload(
  events: EventWebhookOptions | undefined,
  intent: UploadIntent,
  log: (level: "info" | "warn" | "error", message: string, fields?: object) => void,
): Promise<void> {
  if (!events?.beforeUploadUrl) return;
  let options = resolved.get(events);
  if (!options) resolved.set(events, options = resolveWebhookOptions(events));
  const url = options.beforeUploadUrl!;
  const body = JSON.stringify({
    id: crypto.randomUUID(),
    type: "before_upload",
    timestamp: new Date().toISOString(),
    user: intent.session.username ?? null,
    client: intent.session.remoteAddress,
    session: intent.session.sessionId,
    command: intent.command,
    path: intent.path,
    ...(intent.size ? { size: intent.size } : {}),
    offset: intent.offset,
  });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  let status: number;
  let answer = "";
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": `exftp/${VERSION}`,
        [SIGNATURE_HEADER]: await signWebhook(options.secret, body),
        "X-Exftp-Event": "before_upload",
      },
      body,
      redirect: "manual",
      signal: controller.signal,
    });
    status = response.status;
    answer = await readLimitedText(response, MAX_ANSWER_BYTES);
  } catch (error) {
    const reason = controller.signal.aborted
      ? `no answer within ${options.timeoutMs} ms`
      : (error as Error).message;
    log("error", "Before-upload service unreachable: upload refused", {
      url: redactUrl(url),
      path: intent.path,
      error: reason,
    });
    throw new FtpError(Reply.LocalError, "Upload check unavailable; try again later");
  } finally {
    clearTimeout(timer);
  }
  const refusal = refusalOf(answer);
  if (status >= 200 && status <= 299 && refusal.allow !== false) return;
  if (status >= 500) {
    log("error", "Before-upload service failed: upload refused", {
      url: redactUrl(url),
      path: intent.path,
      status,
    });
    throw new FtpError(Reply.LocalError, "Upload check unavailable; try again later");
  }
  log("info", "Upload refused by the before-upload service", {
    path: intent.path,
    status,
    reason: refusal.reason,
  });
  throw new FtpError(Reply.FileNameNotAllowed, refusal.reason ?? "Upload refused");
}

/** `{"allow": false, "reason": "…"}` from the answer, if it says so. */
function refusalOf(answer: string): { allow?: boolean; reason?: string } {
  try {
    const json = JSON.parse(answer);
    if (typeof json !== "object" || json === null) return {};
    const reason = typeof json.reason === "string"
      // One short line: it becomes the text of the FTP reply.
      ? json.reason.replace(/\s*\p{Cc}+\s*/gu, " ").trim().slice(0, 200) || undefined
      : undefined;
    return { allow: typeof json.allow === "boolean" ? json.allow : undefined, reason };
  } catch {
    return {};
  }
}
