/**
 * {@linkcode WebhookDeliverer}: takes events from an {@linkcode Outbox} and
 * POSTs them, signed, with bounded concurrency, in the background — nothing
 * an FTP client does waits for it. A 2xx removes the event; anything else
 * (an error status, a redirect, no answer within the timeout) schedules a
 * retry with exponential back-off and jitter, until the retries run out and
 * the event is set aside (logged).
 *
 * @module
 */

import { redactUrl } from "../http_url.ts";
import type { Logger } from "../log.ts";
import { VERSION } from "../version.ts";
import { type ResolvedWebhookOptions, retryDelay } from "./options.ts";
import type { Outbox, OutboxEntry } from "./outbox.ts";
import { SIGNATURE_HEADER, signWebhook } from "./signature.ts";

/** How often a shared queue is asked for events other nodes put there, in ms. */
const POLL_MS = 1_000;

/** Sends the outbox's events to the webhook URL. */
export class WebhookDeliverer {
  readonly #outbox: Outbox;
  readonly #options: ResolvedWebhookOptions & { url: URL };
  readonly #logger: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #loop?: Promise<void>;
  #wake?: () => void;
  #failing = false;

  constructor(
    outbox: Outbox,
    options: ResolvedWebhookOptions & { url: URL },
    logger: Logger,
  ) {
    this.#outbox = outbox;
    this.#options = options;
    this.#logger = logger;
  }

  /** Start delivering (the outbox is open). */
  start(): void {
    this.#loop ??= this.#run().catch((error) => {
      this.#logger("error", "Webhook deliverer stopped", { error: String(error) });
    });
  }

  /** An event was put in the outbox: look now rather than at the next due time. */
  wake(): void {
    this.#wake?.();
  }

  /**
   * Stop: requests in flight are cancelled, and their events stay in the
   * outbox for the next start (at-least-once: the receiver may see them twice).
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.wake();
    await this.#loop;
    await Promise.all(this.#inFlight);
  }

  async #run(): Promise<void> {
    const { concurrency } = this.#options;
    while (!this.#stopping.signal.aborted) {
      const free = concurrency - this.#inFlight.size;
      const entries = free > 0 ? await this.#outbox.take(free) : [];
      for (const entry of entries) {
        const delivery = this.#deliver(entry).catch((error) => {
          this.#logger("error", "Webhook delivery failed unexpectedly", { error: String(error) });
        }).finally(() => {
          this.#inFlight.delete(delivery);
          this.wake();
        });
        this.#inFlight.add(delivery);
      }
      if (entries.length === 0 || entries.length === free) await this.#sleep();
    }
  }

  /** Wait for a wake-up, the next due event, or (a shared queue) the next poll. */
  #sleep(): Promise<void> {
    if (this.#stopping.signal.aborted) return Promise.resolve();
    const now = Date.now();
    const due = this.#inFlight.size >= this.#options.concurrency
      ? undefined
      : this.#outbox.nextDueAt();
    let wait = due === undefined ? Infinity : Math.max(0, due - now);
    if (this.#outbox.polls) wait = Math.min(wait, POLL_MS);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      if (wait !== Infinity) timer = setTimeout(done, wait);
      this.#wake = done;
    });
  }

  async #deliver(entry: OutboxEntry): Promise<void> {
    const { url, secret, timeoutMs, retries, retryDelayMs } = this.#options;
    const facts = eventFacts(entry.body);
    const controller = new AbortController();
    const abort = () => controller.abort();
    this.#stopping.signal.addEventListener("abort", abort);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let problem: string | undefined;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": `exftp/${VERSION}`,
          [SIGNATURE_HEADER]: await signWebhook(secret, entry.body),
          "X-Exftp-Event": facts.type,
          "X-Exftp-Event-Id": facts.id,
          "X-Exftp-Attempt": String(entry.attempt + 1),
        },
        body: entry.body,
        redirect: "manual",
        signal: controller.signal,
      });
      await response.body?.cancel().catch(() => {});
      if (response.status < 200 || response.status > 299) {
        problem = response.status >= 300 && response.status < 400
          ? `answered ${response.status} (redirects are not followed)`
          : `answered ${response.status}`;
      }
    } catch (error) {
      problem = timedOut ? `no answer within ${timeoutMs} ms` : (error as Error).message;
    } finally {
      clearTimeout(timer);
      this.#stopping.signal.removeEventListener("abort", abort);
    }
    if (this.#stopping.signal.aborted && problem !== undefined) return; // stays in the outbox
    if (problem === undefined) {
      await this.#outbox.delivered(entry);
      if (this.#failing) {
        this.#failing = false;
        this.#logger("info", "Webhook deliveries succeed again", { url: redactUrl(url) });
      }
      return;
    }
    const fields = {
      url: redactUrl(url),
      event: facts.type,
      id: facts.id,
      attempt: entry.attempt + 1,
      error: problem,
    };
    if (entry.attempt >= retries) {
      this.#logger("error", "Webhook event set aside: no retries left", fields);
      await this.#outbox.failed(entry);
      return;
    }
    // One warning when deliveries start failing, not one per event and attempt.
    if (!this.#failing) {
      this.#failing = true;
      this.#logger("warn", "Webhook delivery failing; events wait in the outbox", fields);
    } else this.#logger("debug", "Webhook delivery failed", fields);
    await this.#outbox.failed(entry, Date.now() + retryDelay(entry.attempt + 1, retryDelayMs));
  }
}

function eventFacts(body: string): { type: string; id: string } {
  try {
    const { type, id } = JSON.parse(body);
    return { type: String(type), id: String(id) };
  } catch {
    return { type: "unknown", id: "unknown" };
  }
}
