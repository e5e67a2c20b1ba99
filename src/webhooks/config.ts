/**
 * The `events` section of the config file into {@linkcode EventWebhookOptions}.
 *
 * @module
 */

import * as path from "node:path";
import type { SharedState } from "../cluster/state.ts";
import { ConfigError } from "../config/error.ts";
import { EVENTS_SETTINGS, problemWith, type Setting } from "../config/schema.ts";
import { normalizeServiceUrl } from "../http_url.ts";
import type { EventWebhookOptions, WebhookEventType } from "./options.ts";

function eventsSetting(key: string): Setting | undefined {
  return EVENTS_SETTINGS.find((setting) => setting.key === `events.${key}`);
}

/** One value of the section, checked, or undefined when unset (defaults are the server's). */
function eventsValue(section: Record<string, unknown>, key: string): unknown {
  const setting = eventsSetting(key)!;
  const value = section[key];
  if (value === undefined || value === null) return undefined;
  const problem = problemWith(setting, value);
  if (problem) throw new ConfigError(setting.key!, problem);
  return value;
}

function urlValue(section: Record<string, unknown>, key: string): string | undefined {
  const value = eventsValue(section, key) as string | undefined;
  if (value === undefined) return undefined;
  try {
    normalizeServiceUrl(value);
  } catch (error) {
    throw new ConfigError(`events.${key}`, (error as Error).message);
  }
  return value;
}

/**
 * The `events` section's options, or `undefined` without one.
 *
 * @param section the `events` value, checked to be a mapping
 * @param baseDir where a relative outbox folder is resolved from (the config file's folder)
 * @param state the fleet's shared state when `cluster` is configured: its queue
 *   becomes the outbox, and the folder the fallback
 */
export function buildEvents(
  section: Record<string, unknown> | undefined,
  baseDir: string,
  state?: SharedState,
): EventWebhookOptions | undefined {
  if (section === undefined) return undefined;
  const known = EVENTS_SETTINGS.map((setting) => setting.key!.slice("events.".length));
  for (const key of Object.keys(section)) {
    if (!eventsSetting(key)) {
      throw new ConfigError(`events.${key}`, `unknown key; known: ${known.join(", ")}`);
    }
  }
  const secret = eventsValue(section, "secret");
  if (secret === undefined) throw new ConfigError("events.secret", "is required");
  const url = urlValue(section, "url");
  const beforeUploadUrl = urlValue(section, "before_upload_url");
  if (url === undefined && beforeUploadUrl === undefined) {
    throw new ConfigError("events.url", "is required (or events.before_upload_url)");
  }
  const folder = path.resolve(
    baseDir,
    (eventsValue(section, "outbox") as string | undefined) ??
      eventsSetting("outbox")!.default as string,
  );
  return {
    url,
    beforeUploadUrl,
    secret: secret as string,
    on: eventsValue(section, "on") as WebhookEventType[] | undefined,
    timeoutMs: eventsValue(section, "timeout_ms") as number | undefined,
    retries: eventsValue(section, "retries") as number | undefined,
    retryDelayMs: eventsValue(section, "retry_delay_ms") as number | undefined,
    maxOutbox: eventsValue(section, "max_outbox") as number | undefined,
    concurrency: eventsValue(section, "concurrency") as number | undefined,
    outbox: state ?? folder,
    outboxFolder: folder,
  };
}
