/**
 * {@linkcode FailoverState}: shared state that never refuses service. It
 * answers from the shared store while that answers, and from a local
 * {@linkcode MemoryState} while it doesn't (mode `degraded`), and rejoins
 * when the store is back.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { MemoryState, type QueuedItem, type SharedState, type SharedStateMode } from "./state.ts";

/** A shared store the failover can probe. */
export interface ProbedState extends SharedState {
  /** Rejects unless the store answers now. */
  ping(): Promise<void>;
  /** Resolves true once the store answers, false when not within `timeoutMs`. */
  ready?(timeoutMs: number): Promise<boolean>;
}

/** Options of {@linkcode FailoverState}. */
export interface FailoverStateOptions {
  /** Told about every switch between shared and local state. */
  logger?: Logger;
  /** How often the store is asked whether it is back, while degraded, in ms. @default {1000} */
  probeEveryMs?: number;
  /** The time source of the local state (tests). */
  clock?: () => number;
}

interface HeldSlot {
  key: string;
  holder: string;
  ttlMs: number;
}

/** Slots re-registered on a switch are never refused for being over the limit: they exist. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * {@linkcode SharedState} over a shared store with a local fallback. A call
 * the store fails (unreachable, timed out) switches this node to its local
 * state and answers from there; a probe asks the store every
 * `probeEveryMs`, and once it answers the node uses it again. On each switch
 * the session slots this node holds are registered in the state it switches
 * to, so per-user and per-IP counts include this node's sessions on both
 * sides. Flags set while degraded (bans) are written to the store on rejoin
 * for the rest of their time, so a ban made during an outage holds across the
 * fleet afterwards; failure counts of that time stay local.
 *
 * @example
 * ```ts ignore
 * const redis = await RedisState.open("redis://127.0.0.1:6379");
 * const state = new FailoverState(redis, { logger: consoleLogger() });
 * await state.start(2000); // shared if Redis answers within 2 s, degraded otherwise
 * ```
 */
export class FailoverState implements SharedState {
  readonly #opening: Promise<ProbedState | undefined>;
  #store?: ProbedState;
  readonly #logger: Logger;
  readonly #probeEveryMs: number;
  readonly #clock?: () => number;
  readonly #held = new Map<string, HeldSlot>();
  /** Flags set in local state while degraded: key → when they expire (this node's clock). */
  readonly #localFlags = new Map<string, number>();
  #local: MemoryState;
  #degraded: boolean;
  #probe?: ReturnType<typeof setInterval>;
  #probing = false;
  #closed = false;
  #degradations = 0;

  /**
   * Use `store`, falling back to local state while it fails. The store may
   * still be opening (a promise): until {@linkcode FailoverState.start}, calls
   * use local state.
   */
  constructor(store: ProbedState | Promise<ProbedState>, options: FailoverStateOptions = {}) {
    this.#logger = options.logger ?? (() => {});
    this.#degraded = true; // until start() finds the store
    this.#opening = Promise.resolve(store).then(
      (opened) => this.#store = opened,
      (error) => {
        this.#logger("error", "Shared state can't be opened; serving with local state", {
          error: String(error),
        });
        return undefined;
      },
    );
    this.#probeEveryMs = options.probeEveryMs ?? 1000;
    this.#clock = options.clock;
    this.#local = new MemoryState(this.#clock);
  }

  /**
   * Wait up to `timeoutMs` for the store; when it does not answer, start
   * degraded (and keep probing).
   */
  async start(timeoutMs: number): Promise<void> {
    const store = await this.#opening;
    if (!store || this.#closed) return;
    const ready = store.ready
      ? await store.ready(timeoutMs)
      : await store.ping().then(() => true, () => false);
    this.#degraded = false;
    if (ready) {
      this.#logger("info", "Shared state reachable; fleet-wide limits and bans");
    } else {
      this.#degrade(new Error(`no answer within ${timeoutMs} ms`));
    }
  }

  /** `shared` while the store answers, `degraded` while this node uses local state. */
  get mode(): SharedStateMode {
    return this.#degraded ? "degraded" : "shared";
  }

  /** How many times this node switched to local state. */
  get degradations(): number {
    return this.#degradations;
  }

  /** {@inheritDoc SharedState.hit} */
  hit(key: string, windowMs: number): Promise<number> {
    return this.#call((state) => state.hit(key, windowMs));
  }

  /** {@inheritDoc SharedState.clearHits} */
  clearHits(key: string): Promise<void> {
    return this.#call((state) => state.clearHits(key));
  }

  /** {@inheritDoc SharedState.setFlag} */
  setFlag(key: string, ttlMs: number): Promise<void> {
    return this.#call((state) => {
      if (state === this.#local) this.#localFlags.set(key, this.#now() + ttlMs);
      return state.setFlag(key, ttlMs);
    });
  }

  /** {@inheritDoc SharedState.hasFlag} */
  hasFlag(key: string): Promise<boolean> {
    return this.#call((state) => state.hasFlag(key));
  }

  /** {@inheritDoc SharedState.acquireSlot} */
  async acquireSlot(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean> {
    const taken = await this.#call((state) => state.acquireSlot(key, holder, limit, ttlMs));
    if (taken) this.#held.set(slotId(key, holder), { key, holder, ttlMs });
    return taken;
  }

  /** {@inheritDoc SharedState.releaseSlot} */
  releaseSlot(key: string, holder: string): Promise<void> {
    this.#held.delete(slotId(key, holder));
    return this.#call((state) => state.releaseSlot(key, holder));
  }

  /** {@inheritDoc SharedState.renewSlots} */
  renewSlots(slots: readonly { key: string; holder: string }[], ttlMs: number): Promise<void> {
    for (const { key, holder } of slots) {
      const held = this.#held.get(slotId(key, holder));
      if (held) held.ttlMs = ttlMs;
    }
    return this.#call((state) => state.renewSlots(slots, ttlMs));
  }

  /** {@inheritDoc SharedState.countSlots} */
  countSlots(key: string): Promise<number> {
    return this.#call((state) => state.countSlots(key));
  }

  /** {@inheritDoc SharedState.reserve} */
  reserve(key: string, delta: number, limit?: number): Promise<{ ok: boolean; value: number }> {
    return this.#call((state) => state.reserve(key, delta, limit));
  }

  /** {@inheritDoc SharedState.readCounter} */
  readCounter(key: string): Promise<number | undefined> {
    return this.#call((state) => state.readCounter(key));
  }

  /** {@inheritDoc SharedState.writeCounter} */
  writeCounter(key: string, value: number): Promise<void> {
    return this.#call((state) => state.writeCounter(key, value));
  }

  /** {@inheritDoc SharedState.enqueue} */
  enqueue(queue: string, value: string): Promise<void> {
    return this.#call((state) => state.enqueue(queue, value));
  }

  /** {@inheritDoc SharedState.dequeue} */
  dequeue(queue: string, leaseMs: number): Promise<QueuedItem | undefined> {
    return this.#call((state) => state.dequeue(queue, leaseMs));
  }

  /** {@inheritDoc SharedState.ack} */
  ack(queue: string, id: string): Promise<void> {
    return this.#call((state) => state.ack(queue, id));
  }

  /** Stop probing and close the store. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    this.#probe = undefined;
    await (await this.#opening)?.close();
  }

  async #call<T>(operation: (state: SharedState) => Promise<T>): Promise<T> {
    if (!this.#degraded && this.#store) {
      try {
        return await operation(this.#store);
      } catch (error) {
        this.#degrade(error);
      }
    }
    return await operation(this.#local);
  }

  #degrade(error: unknown): void {
    if (this.#degraded || this.#closed) return;
    this.#degraded = true;
    this.#degradations++;
    this.#logger("warn", "Shared state unreachable; serving with local state until it is back", {
      error: (error as Error)?.message ?? String(error),
    });
    // Local state starts afresh with this node's own sessions in it.
    this.#local = new MemoryState(this.#clock);
    this.#localFlags.clear();
    for (const slot of this.#held.values()) {
      this.#local.acquireSlot(slot.key, slot.holder, NO_LIMIT, slot.ttlMs);
    }
    this.#probe = setInterval(() => this.#tryRejoin(), this.#probeEveryMs);
    Deno.unrefTimer(this.#probe);
  }

  #now(): number {
    return this.#clock?.() ?? Date.now();
  }

  async #tryRejoin(): Promise<void> {
    const store = this.#store;
    if (this.#probing || !this.#degraded || this.#closed || !store) return;
    this.#probing = true;
    try {
      await store.ping();
      // The store may have restarted empty: put this node's sessions back first.
      for (const slot of [...this.#held.values()]) {
        await store.acquireSlot(slot.key, slot.holder, NO_LIMIT, slot.ttlMs);
        // Released meanwhile (into local state): not in the store either.
        const id = slotId(slot.key, slot.holder);
        if (!this.#held.has(id)) await store.releaseSlot(slot.key, slot.holder);
      }
      // Bans made while degraded hold fleet-wide for the rest of their time.
      // (A loop until none are left: a ban made while this runs is carried too.)
      for (let next = first(this.#localFlags); next; next = first(this.#localFlags)) {
        const [key, expires] = next;
        const left = expires - this.#now();
        if (left > 0) await store.setFlag(key, left);
        if (this.#localFlags.get(key) === expires) this.#localFlags.delete(key);
      }
      if (this.#closed) return;
      this.#degraded = false;
      clearInterval(this.#probe);
      this.#probe = undefined;
      this.#logger("info", "Shared state reachable again; using it", {
        slots: this.#held.size,
      });
    } catch {
      // Still down: the next probe tries again.
    } finally {
      this.#probing = false;
    }
  }
}

function first<K, V>(map: Map<K, V>): [K, V] | undefined {
  return map.entries().next().value;
}

function slotId(key: string, holder: string): string {
  return `${key}\u0000${holder}`;
}
