/**
 * {@linkcode QueueOutbox}: the webhook outbox in a {@linkcode SharedState}
 * queue, shared by a fleet (any node delivers any node's events; a node that
 * dies mid-delivery leaves its events to the others once their lease ends).
 * A rejected call of the shared store degrades to a local
 * {@linkcode FolderOutbox}, never to losing the event.
 *
 * @module
 */

import type { SharedState } from "../cluster/state.ts";
import type { Logger } from "../log.ts";
import { MAX_RETRY_DELAY_MS } from "./options.ts";
import type { FolderOutbox, Outbox, OutboxEntry } from "./outbox.ts";

/** The queue's name in the shared state. */
export const WEBHOOK_QUEUE = "webhooks:events";
/** Where events that ran out of retries go. */
export const WEBHOOK_FAILED_QUEUE = "webhooks:failed";

/** Most events held by this node while they wait for their retry time. */
const MAX_HELD = 256;

interface QueuedEvent {
  body: string;
  attempt: number;
  dueAt: number;
}

interface Held extends OutboxEntry {
  readonly id: string;
  readonly dueAt: number;
  readonly shared: true;
}

/** An {@linkcode Outbox} in a shared queue, with a folder as the fallback. */
export class QueueOutbox implements Outbox {
  readonly #state: SharedState;
  readonly #fallback: FolderOutbox;
  readonly #logger: Logger;
  readonly #leaseMs: number;
  readonly #held = new Map<string, Held>();
  #degraded = false;

  /**
   * @param state the shared state holding the queue
   * @param fallback where events go while the shared store rejects calls
   * @param timeoutMs a delivery's timeout (the lease covers it and the longest retry wait)
   */
  constructor(state: SharedState, fallback: FolderOutbox, logger: Logger, timeoutMs: number) {
    this.#state = state;
    this.#fallback = fallback;
    this.#logger = logger;
    // An item waits here for its retry time (at most MAX_RETRY_DELAY_MS) and
    // then for one request: the lease must outlast both, or another node
    // would take it meanwhile.
    this.#leaseMs = MAX_RETRY_DELAY_MS + timeoutMs + 30_000;
  }

  /** Other nodes add events: poll. */
  get polls(): boolean {
    return true;
  }

  /** {@inheritDoc Outbox.open} */
  open(): Promise<void> {
    return this.#fallback.open();
  }

  /** {@inheritDoc Outbox.put} */
  async put(body: string): Promise<boolean> {
    try {
      await this.#state.enqueue(WEBHOOK_QUEUE, encode({ body, attempt: 0, dueAt: 0 }));
      this.#recovered();
      return true;
    } catch (error) {
      this.#degrade(error);
      return await this.#fallback.put(body);
    }
  }

  /** {@inheritDoc Outbox.take} */
  async take(max: number): Promise<OutboxEntry[]> {
    const now = Date.now();
    const taken: OutboxEntry[] = await this.#fallback.take(max);
    for (const [id, held] of this.#held) {
      if (taken.length >= max) return taken;
      if (held.dueAt > now) continue;
      this.#held.delete(id);
      taken.push(held);
    }
    while (taken.length < max && this.#held.size < MAX_HELD) {
      let item;
      try {
        item = await this.#state.dequeue(WEBHOOK_QUEUE, this.#leaseMs);
        this.#recovered();
      } catch (error) {
        this.#degrade(error);
        break;
      }
      if (!item) break;
      const event = decode(item.value);
      if (!event) {
        this.#logger("error", "Webhook queue item is not an event: dropped", { id: item.id });
        await this.#state.ack(WEBHOOK_QUEUE, item.id).catch(() => {});
        continue;
      }
      const held: Held = {
        key: `queue:${item.id}`,
        id: item.id,
        body: event.body,
        attempt: event.attempt,
        dueAt: event.dueAt,
        shared: true,
      };
      if (held.dueAt > now) this.#held.set(item.id, held);
      else taken.push(held);
    }
    return taken;
  }

  /** {@inheritDoc Outbox.delivered} */
  async delivered(entry: OutboxEntry): Promise<void> {
    if (!isHeld(entry)) return await this.#fallback.delivered(entry);
    await this.#state.ack(WEBHOOK_QUEUE, entry.id).catch((error) => this.#degrade(error));
  }

  /** {@inheritDoc Outbox.failed} */
  async failed(entry: OutboxEntry, retryAt?: number): Promise<void> {
    if (!isHeld(entry)) return await this.#fallback.failed(entry, retryAt);
    const next = encode({ body: entry.body, attempt: entry.attempt + 1, dueAt: retryAt ?? 0 });
    try {
      // The new item first: if the ack is lost, the event comes twice rather than never.
      await this.#state.enqueue(retryAt === undefined ? WEBHOOK_FAILED_QUEUE : WEBHOOK_QUEUE, next);
      await this.#state.ack(WEBHOOK_QUEUE, entry.id);
    } catch (error) {
      // Left unacknowledged: its lease ends and it is delivered again.
      this.#degrade(error);
    }
  }

  /** {@inheritDoc Outbox.nextDueAt} */
  nextDueAt(): number | undefined {
    let next = this.#fallback.nextDueAt();
    for (const held of this.#held.values()) {
      if (next === undefined || held.dueAt < next) next = held.dueAt;
    }
    return next;
  }

  #degrade(error: unknown): void {
    if (this.#degraded) return;
    this.#degraded = true;
    this.#logger("warn", "Webhook queue: shared state unusable; events wait in the local outbox", {
      folder: this.#fallback.folder,
      error: String(error),
    });
  }

  #recovered(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#logger("info", "Webhook queue: shared state usable again");
  }
}

function isHeld(entry: OutboxEntry): entry is Held {
  return (entry as Partial<Held>).shared === true;
}

function encode(event: QueuedEvent): string {
  return JSON.stringify(event);
}

function decode(value: string): QueuedEvent | undefined {
  try {
    const event = JSON.parse(value);
    if (typeof event?.body === "string" && typeof event.attempt === "number") {
      return { body: event.body, attempt: event.attempt, dueAt: Number(event.dueAt) || 0 };
    }
  } catch {
    // falls through
  }
  return undefined;
}
