/**
 * State that every node of a fleet must agree on: failed-login counts and
 * bans, session counts per address and per user, quota usage, and queues
 * (the event outbox). {@linkcode MemoryState} keeps it in this process (the
 * default, and the fallback when a shared store is unreachable); a Redis-backed
 * implementation shares it across nodes when `cluster` is configured.
 *
 * Every method is asynchronous because a shared store is remote; callers must
 * treat a rejection as "the store is unusable right now" and degrade (serve
 * with what they know), never refuse service because of it.
 *
 * @module
 */

/** Where the state lives right now. */
export type SharedStateMode =
  /** In this process only; no cluster configured. */
  | "local"
  /** In the shared store, which answers. */
  | "shared"
  /** A shared store is configured but unreachable: this node uses local state until it is back. */
  | "degraded";

/** One item taken from a queue, to be acknowledged once handled. */
export interface QueuedItem {
  /** Identifies the item for {@linkcode SharedState.ack}. */
  readonly id: string;
  /** What was enqueued. */
  readonly value: string;
  /** How many times it was handed out before (0 the first time). */
  readonly deliveries: number;
}

/**
 * The operations the server needs from shared state. Keys are plain strings
 * chosen by the caller (`ban:<ip>`, `sessions:user:<name>`…); an implementation
 * may prefix them.
 */
export interface SharedState {
  /** Where the state lives right now. */
  readonly mode: SharedStateMode;

  /**
   * Count one event under `key` and resolve with how many happened within the
   * last `windowMs` (this one included). Failed logins per address.
   */
  hit(key: string, windowMs: number): Promise<number>;
  /** Forget every event counted under `key`. */
  clearHits(key: string): Promise<void>;

  /** Set a flag that ends by itself after `ttlMs` (a ban). */
  setFlag(key: string, ttlMs: number): Promise<void>;
  /** Whether the flag is set and not yet expired. */
  hasFlag(key: string): Promise<boolean>;

  /**
   * Take one of at most `limit` slots under `key` for `holder` (a session id
   * unique across the fleet); resolves false when all are taken. A slot ends
   * after `ttlMs` unless renewed, so a node that dies stops counting.
   * Taking a slot the holder already has renews it and succeeds.
   */
  acquireSlot(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean>;
  /** Give a slot back. */
  releaseSlot(key: string, holder: string): Promise<void>;
  /** Keep slots alive for another `ttlMs` (called periodically by the node holding them). */
  renewSlots(slots: readonly { key: string; holder: string }[], ttlMs: number): Promise<void>;
  /** How many live slots `key` has. */
  countSlots(key: string): Promise<number>;

  /**
   * Add `delta` to the counter `key` unless the result would exceed `limit`;
   * resolves with whether it was added and the value after. Atomic: two nodes
   * racing for the last bytes of a quota cannot both get them. A negative
   * delta always applies. Without a limit, always adds.
   */
  reserve(key: string, delta: number, limit?: number): Promise<{ ok: boolean; value: number }>;
  /** The counter's value, or undefined when it was never set. */
  readCounter(key: string): Promise<number | undefined>;
  /** Set the counter (after computing usage from storage). */
  writeCounter(key: string, value: number): Promise<void>;

  /** Append `value` to the durable queue `queue`. */
  enqueue(queue: string, value: string): Promise<void>;
  /**
   * Hand out the oldest item not currently handed out, or one handed out more
   * than `leaseMs` ago and never acknowledged (its handler died): at-least-once.
   */
  dequeue(queue: string, leaseMs: number): Promise<QueuedItem | undefined>;
  /** The item was handled: remove it for good. */
  ack(queue: string, id: string): Promise<void>;

  /** Release connections and timers. */
  close(): Promise<void>;
}

interface Slot {
  expires: number;
}

interface Entry {
  id: string;
  value: string;
  deliveries: number;
  /** Handed out until (ms), or 0 when waiting. */
  leasedUntil: number;
}

/** Most keys of one kind kept at once; the oldest are forgotten first. */
const MAX_KEYS = 100_000;

/**
 * {@linkcode SharedState} in this process: the default without `cluster`, and
 * what a node falls back to while its shared store is unreachable.
 * Queues live in memory too: durable queues need a store (a folder or Redis).
 * Pass one to several servers of one process (`sharedState`) and they share
 * bans and session limits.
 *
 * @example Two servers, one limit per user
 * ```ts
 * import { FtpServer, MemoryState, MemoryStorage, PassthroughAuthenticator } from "@exftp/server";
 *
 * const sharedState = new MemoryState();
 * const options = {
 *   port: 0,
 *   maxSessionsPerUser: 1,
 *   sharedState,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage: new MemoryStorage(),
 * };
 * await using first = new FtpServer(options);
 * await using second = new FtpServer(options);
 * console.assert(first.sharedStateMode === "local" && second.sharedStateMode === "local");
 * console.assert(await sharedState.acquireSlot("sessions:user:bob", "n1:s1", 1, Infinity));
 * ```
 */
export class MemoryState implements SharedState {
  readonly #clock: () => number;
  readonly #hits = new Map<string, number[]>();
  readonly #flags = new Map<string, number>();
  readonly #slots = new Map<string, Map<string, Slot>>();
  readonly #counters = new Map<string, number>();
  readonly #queues = new Map<string, Entry[]>();
  #nextId = 1;

  /**
   * State in this process.
   *
   * @param clock the time source (tests pass a fake one)
   */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** Always `local`. */
  get mode(): SharedStateMode {
    return "local";
  }

  /** {@inheritDoc SharedState.hit} */
  hit(key: string, windowMs: number): Promise<number> {
    const now = this.#clock();
    const times = (this.#hits.get(key) ?? []).filter((t) => now - t < windowMs);
    times.push(now);
    bounded(this.#hits).set(key, times);
    return Promise.resolve(times.length);
  }

  /** {@inheritDoc SharedState.clearHits} */
  clearHits(key: string): Promise<void> {
    this.#hits.delete(key);
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.setFlag} */
  setFlag(key: string, ttlMs: number): Promise<void> {
    bounded(this.#flags).set(key, this.#clock() + ttlMs);
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.hasFlag} */
  hasFlag(key: string): Promise<boolean> {
    const until = this.#flags.get(key);
    if (until === undefined) return Promise.resolve(false);
    if (until > this.#clock()) return Promise.resolve(true);
    this.#flags.delete(key);
    return Promise.resolve(false);
  }

  /** {@inheritDoc SharedState.acquireSlot} */
  acquireSlot(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean> {
    const slots = this.#liveSlots(key);
    const expires = this.#clock() + ttlMs;
    if (slots.has(holder)) {
      slots.set(holder, { expires });
      return Promise.resolve(true);
    }
    if (slots.size >= limit) return Promise.resolve(false);
    slots.set(holder, { expires });
    bounded(this.#slots).set(key, slots);
    return Promise.resolve(true);
  }

  /** {@inheritDoc SharedState.releaseSlot} */
  releaseSlot(key: string, holder: string): Promise<void> {
    const slots = this.#slots.get(key);
    slots?.delete(holder);
    if (slots?.size === 0) this.#slots.delete(key);
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.renewSlots} */
  renewSlots(slots: readonly { key: string; holder: string }[], ttlMs: number): Promise<void> {
    const expires = this.#clock() + ttlMs;
    for (const { key, holder } of slots) {
      const slot = this.#slots.get(key)?.get(holder);
      if (slot) slot.expires = expires;
    }
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.countSlots} */
  countSlots(key: string): Promise<number> {
    return Promise.resolve(this.#liveSlots(key).size);
  }

  /** {@inheritDoc SharedState.reserve} */
  reserve(key: string, delta: number, limit?: number): Promise<{ ok: boolean; value: number }> {
    const current = this.#counters.get(key) ?? 0;
    const next = current + delta;
    if (delta > 0 && limit !== undefined && next > limit) {
      return Promise.resolve({ ok: false, value: current });
    }
    bounded(this.#counters).set(key, next);
    return Promise.resolve({ ok: true, value: next });
  }

  /** {@inheritDoc SharedState.readCounter} */
  readCounter(key: string): Promise<number | undefined> {
    return Promise.resolve(this.#counters.get(key));
  }

  /** {@inheritDoc SharedState.writeCounter} */
  writeCounter(key: string, value: number): Promise<void> {
    bounded(this.#counters).set(key, value);
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.enqueue} */
  enqueue(queue: string, value: string): Promise<void> {
    const entries = this.#queues.get(queue) ?? [];
    entries.push({ id: String(this.#nextId++), value, deliveries: 0, leasedUntil: 0 });
    this.#queues.set(queue, entries);
    return Promise.resolve();
  }

  /** {@inheritDoc SharedState.dequeue} */
  dequeue(queue: string, leaseMs: number): Promise<QueuedItem | undefined> {
    const now = this.#clock();
    const entry = this.#queues.get(queue)?.find((e) => e.leasedUntil <= now);
    if (!entry) return Promise.resolve(undefined);
    const item = { id: entry.id, value: entry.value, deliveries: entry.deliveries };
    entry.deliveries++;
    entry.leasedUntil = now + leaseMs;
    return Promise.resolve(item);
  }

  /** {@inheritDoc SharedState.ack} */
  ack(queue: string, id: string): Promise<void> {
    const entries = this.#queues.get(queue);
    const index = entries?.findIndex((e) => e.id === id) ?? -1;
    if (index >= 0) entries!.splice(index, 1);
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #liveSlots(key: string): Map<string, Slot> {
    const slots = this.#slots.get(key) ?? new Map<string, Slot>();
    const now = this.#clock();
    for (const [holder, slot] of slots) if (slot.expires <= now) slots.delete(holder);
    return slots;
  }
}

/** Make room in a map that is about to grow: drop its oldest tenth when full. */
function bounded<K, V>(map: Map<K, V>): Map<K, V> {
  if (map.size < MAX_KEYS) return map;
  let drop = Math.ceil(MAX_KEYS / 10);
  for (const key of map.keys()) {
    if (drop-- <= 0) break;
    map.delete(key);
  }
  return map;
}
