/**
 * Options of the event webhooks ({@linkcode EventWebhookOptions}, the
 * server's `events` option) with their defaults and validation.
 *
 * @module
 */

import type { SharedState } from "../cluster/state.ts";
import { normalizeServiceUrl } from "../http_url.ts";

/** The events a webhook can be told about. */
export const WEBHOOK_EVENT_TYPES = [
  "upload",
  "download",
  "delete",
  "rename",
  "mkdir",
  "rmdir",
  "login",
  "login_failed",
] as const;

/** One event type (`upload`, `login_failed`…). */
export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number];

/**
 * The server's `events` option: signed JSON POSTs after file operations and
 * logins, delivered at least once from a durable outbox, and an optional
 * check before each upload. See the README's "Event webhooks".
 */
export interface EventWebhookOptions {
  /** Where events are POSTed (http or https; redirects are not followed). */
  url?: string | URL;
  /** The HMAC-SHA256 key that signs every request (`X-Exftp-Signature`). Required. */
  secret: string;
  /** Which events are sent. @default every type of {@linkcode WEBHOOK_EVENT_TYPES} */
  on?: readonly WebhookEventType[];
  /** Time for one request, in ms (the POST and the before-upload check). @default {10000} */
  timeoutMs?: number;
  /** Retries of a failed delivery before the event is set aside. @default {25} */
  retries?: number;
  /** The first retry's delay in ms; each next one doubles, up to 5 minutes, with jitter. @default {1000} */
  retryDelayMs?: number;
  /**
   * Where events wait for delivery: a folder (one file per event, kept across
   * restarts), or a {@linkcode SharedState} whose queue the whole fleet
   * shares (a folder named by `outboxFolder` is then the fallback).
   * @default {"exftp-outbox"}
   */
  outbox?: string | SharedState;
  /** The folder used when `outbox` is a SharedState that fails. @default {"exftp-outbox"} */
  outboxFolder?: string;
  /** Most events waiting in the outbox folder; new events beyond are dropped and logged. @default {10000} */
  maxOutbox?: number;
  /** Most deliveries in flight at once. @default {4} */
  concurrency?: number;
  /**
   * Asked before each upload starts (before 150); a refusal answers 553
   * and an unreachable service 451, and no byte moves.
   */
  beforeUploadUrl?: string | URL;
}

/** {@linkcode EventWebhookOptions} with defaults filled in and URLs checked. */
export interface ResolvedWebhookOptions {
  url?: URL;
  secret: string;
  on: ReadonlySet<WebhookEventType>;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  outbox?: SharedState;
  outboxFolder: string;
  maxOutbox: number;
  concurrency: number;
  beforeUploadUrl?: URL;
}

/** The longest delay between two attempts. */
export const MAX_RETRY_DELAY_MS = 300_000;

/** The default outbox folder (relative to the working folder). */
export const DEFAULT_OUTBOX_FOLDER = "exftp-outbox";

function whole(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  const n = value ?? fallback;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(
      `Option "events.${name}" must be a whole number from ${min} to ${max}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

function url(name: string, value: string | URL | undefined): URL | undefined {
  if (value === undefined) return undefined;
  try {
    return normalizeServiceUrl(value);
  } catch (error) {
    throw new TypeError(`Option "events.${name}": ${(error as Error).message}`);
  }
}

/**
 * Fill in defaults and check.
 *
 * @throws {TypeError} for a missing secret, a bad URL or an unknown event type
 * @throws {RangeError} for a number out of range
 */
export function resolveWebhookOptions(options: EventWebhookOptions): ResolvedWebhookOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Option "events" must be an object`);
  }
  if (typeof options.secret !== "string" || options.secret === "") {
    throw new TypeError(`Option "events.secret" must be a non-empty string`);
  }
  const resolved: ResolvedWebhookOptions = {
    url: url("url", options.url),
    beforeUploadUrl: url("beforeUploadUrl", options.beforeUploadUrl),
    secret: options.secret,
    on: new Set(options.on ?? WEBHOOK_EVENT_TYPES),
    timeoutMs: whole("timeoutMs", options.timeoutMs, 10_000, 1, 2 ** 31 - 1),
    retries: whole("retries", options.retries, 25, 0, 1_000_000),
    retryDelayMs: whole("retryDelayMs", options.retryDelayMs, 1_000, 1, MAX_RETRY_DELAY_MS),
    maxOutbox: whole("maxOutbox", options.maxOutbox, 10_000, 1, 10_000_000),
    concurrency: whole("concurrency", options.concurrency, 4, 1, 1_000),
    outbox: typeof options.outbox === "object" ? options.outbox : undefined,
    outboxFolder: typeof options.outbox === "string"
      ? options.outbox
      : options.outboxFolder ?? DEFAULT_OUTBOX_FOLDER,
  };
  if (!resolved.url && !resolved.beforeUploadUrl) {
    throw new TypeError(`Option "events" needs a "url", a "beforeUploadUrl" or both`);
  }
  for (const type of resolved.on) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) {
      throw new TypeError(
        `Option "events.on": unknown event ${JSON.stringify(type)}; known: ${
          WEBHOOK_EVENT_TYPES.join(", ")
        }`,
      );
    }
  }
  if (typeof resolved.outboxFolder !== "string" || resolved.outboxFolder === "") {
    throw new TypeError(`Option "events.outbox" must be a folder or a SharedState`);
  }
  return resolved;
}

/** The delay before retry number `attempt` (1 for the first): doubling, capped, with jitter. */
export function retryDelay(
  attempt: number,
  firstDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, firstDelayMs * 2 ** Math.min(attempt - 1, 30));
  // "Equal jitter": at least half the delay, so a fleet that failed together
  // spreads out without retrying at once.
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}
