/**
 * {@linkcode EventWebhooks}: the server's `events` option at work. It
 * listens to the server's events, turns each wanted one into a JSON body,
 * puts it in the outbox and returns at once; a {@linkcode WebhookDeliverer}
 * sends it in the background. Upload events come from `transfer-complete`
 * and `transfer-failed`, which the session emits only once the connector's
 * write has finished (the file renamed into place, the multipart upload
 * completed).
 *
 * @module
 */

import type { SessionEventDetail, TransferEventDetail } from "../events.ts";
import type { Logger } from "../log.ts";
import { WebhookDeliverer } from "./deliverer.ts";
import { loginEventBody, transferEventBody, transferEventType } from "./event_body.ts";
import {
  type EventWebhookOptions,
  type ResolvedWebhookOptions,
  resolveWebhookOptions,
  type WebhookEventType,
} from "./options.ts";
import { FolderOutbox, type Outbox } from "./outbox.ts";
import { QueueOutbox } from "./queue_outbox.ts";

/** Sends the server's events to a webhook, durably. */
export class EventWebhooks {
  readonly options: ResolvedWebhookOptions;
  readonly #logger: Logger;
  readonly #outbox?: Outbox;
  readonly #deliverer?: WebhookDeliverer;
  readonly #puts = new Set<Promise<void>>();
  #started = false;
  #dropped = 0;

  /**
   * @throws {TypeError} / {RangeError} for bad options (see {@linkcode resolveWebhookOptions})
   */
  constructor(options: EventWebhookOptions, logger: Logger) {
    this.options = resolveWebhookOptions(options);
    this.#logger = logger;
    const { url, outbox, outboxFolder, maxOutbox, timeoutMs } = this.options;
    if (!url) return; // only the before-upload check
    const folder = new FolderOutbox(outboxFolder, maxOutbox);
    this.#outbox = outbox ? new QueueOutbox(outbox, folder, logger, timeoutMs) : folder;
    this.#deliverer = new WebhookDeliverer(this.#outbox, { ...this.options, url }, logger);
  }

  /** Listen to `server`'s login events (outcomes come through {@linkcode record}). */
  attach(server: EventTarget): void {
    if (!this.#outbox) return;
    server.addEventListener("login", (event) => this.#login("login", event));
    server.addEventListener("login-failed", (event) => this.#login("login_failed", event));
  }

  /**
   * Open the outbox (events left by an earlier run are sent again) and start
   * delivering.
   *
   * @throws when the outbox folder can't be created or read
   */
  async start(): Promise<void> {
    if (!this.#outbox || this.#started) return;
    try {
      await this.#outbox.open();
    } catch (error) {
      throw new Error(
        `Event webhooks: can't open the outbox folder ${
          JSON.stringify(this.options.outboxFolder)
        }: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#started = true;
    this.#deliverer!.start();
  }

  /** Finish writing events to the outbox and stop delivering (undelivered ones stay). */
  async stop(): Promise<void> {
    if (!this.#started) return;
    while (this.#puts.size) await Promise.all(this.#puts);
    await this.#deliverer!.stop();
    this.#started = false;
  }

  /**
   * Put a transfer's or operation's event in the outbox. The server calls it
   * for each outcome it emits and waits for the result before the final
   * reply, so an event is durable before the client learns the outcome: a
   * crash after the reply can't lose it. Settles once that event is written
   * (kept, dropped or failed: it never rejects); `undefined` when the event
   * is not wanted. Only this event's write is waited for: waiting for every
   * write in flight kept each reply waiting (up to the 5-s cap) behind other
   * sessions' events on a busy server, or behind one slow write.
   */
  record(detail: TransferEventDetail): Promise<void> | undefined {
    const type = transferEventType(detail);
    if (!type || !this.options.on.has(type)) return undefined;
    return this.#put(type, transferEventBody(type, detail));
  }

  #login(type: "login" | "login_failed", event: Event): void {
    if (!this.options.on.has(type)) return;
    this.#put(type, loginEventBody(type, (event as CustomEvent<SessionEventDetail>).detail));
  }

  /** Put an event in the outbox without making anyone wait for it; the put, if any. */
  #put(type: WebhookEventType, body: object): Promise<void> | undefined {
    if (!this.#started) return undefined;
    const text = JSON.stringify(body);
    const id = (body as { id: string }).id;
    const put = this.#outbox!.put(text).then((kept) => {
      if (kept) {
        this.#deliverer!.wake();
        return;
      }
      // Drop the newest: the events already kept are as durable as promised,
      // and a full outbox means the receiver has been gone for long.
      this.#dropped++;
      this.#logger("error", "Webhook outbox full: event dropped", {
        event: type,
        id,
        max_outbox: this.options.maxOutbox,
        dropped: this.#dropped,
      });
    }, (error) => {
      this.#logger("error", "Webhook event could not be written to the outbox: dropped", {
        event: type,
        id,
        error: String(error),
      });
    }).finally(() => this.#puts.delete(put));
    this.#puts.add(put);
    return put;
  }
}
