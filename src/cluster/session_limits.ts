/**
 * {@linkcode SessionLimits}: sessions per client address and per user,
 * counted as expiring slots in a {@linkcode SharedState}, so that with
 * `cluster` the limits hold across every node of a fleet.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { SharedState } from "./state.ts";

/** The owner of a session's per-user slot (taken at login; the server releases it at the end). */
export function sessionOwner(sessionId: string): string {
  return `s${sessionId}`;
}

/** Options of {@linkcode SessionLimits}. */
export interface SessionLimitsOptions {
  /**
   * How long a slot lives unless renewed, in ms: after a node dies, its
   * sessions stop counting after this long. Slots are renewed every third of
   * it. In local state (no fleet) slots never expire and are never renewed.
   * @default {30000}
   */
  slotTtlMs?: number;
  /** Names this node in slot holders. @default {a random id} */
  nodeId?: string;
  /** Told when a renewal fails (the state is unreachable: it degrades by itself). */
  logger?: Logger;
}

/**
 * Per-address and per-user session slots of one node. An `owner` is a name
 * the server gives one connection; {@linkcode SessionLimits.release} gives
 * back everything it holds. A state that fails admits: a limit is never a
 * reason to refuse service while the store is down.
 */
export class SessionLimits {
  readonly #state: SharedState;
  readonly #ttlMs: number;
  readonly #nodeId: string;
  readonly #logger: Logger;
  /** Owner → the keys it holds (one or two: an array, a `Set` cost ~190 bytes per session). */
  readonly #held = new Map<string, string[]>();
  #timer?: ReturnType<typeof setInterval>;
  #closed = false;

  /** Count slots in `state`. */
  constructor(state: SharedState, options: SessionLimitsOptions = {}) {
    this.#state = state;
    this.#ttlMs = options.slotTtlMs ?? 30_000;
    this.#nodeId = options.nodeId ?? crypto.randomUUID();
    this.#logger = options.logger ?? (() => {});
  }

  /** Take one of `limit` slots for sessions from `address`. */
  admitAddress(owner: string, address: string, limit: number): Promise<boolean> {
    return this.#acquire(owner, `sessions:ip:${address}`, limit);
  }

  /** Take one of `limit` slots for sessions of `username`. */
  admitUser(owner: string, username: string, limit: number): Promise<boolean> {
    return this.#acquire(owner, `sessions:user:${username}`, limit);
  }

  /** Give back every slot `owner` holds (its session ended). */
  async release(owner: string): Promise<void> {
    const keys = this.#held.get(owner);
    if (!keys) return;
    this.#held.delete(owner);
    if (this.#held.size === 0) this.#stopRenewing();
    const holder = this.#holder(owner);
    await Promise.all(
      [...keys].map((key) => this.#state.releaseSlot(key, holder).catch(() => {})),
    );
  }

  /** Stop renewing (the server is closing; slots end with their sessions or their TTL). */
  close(): void {
    this.#closed = true;
    this.#stopRenewing();
  }

  async #acquire(owner: string, key: string, limit: number): Promise<boolean> {
    const local = this.#state.mode === "local";
    let taken: boolean;
    try {
      // Local slots never expire: they end with their session, no renewal needed.
      const ttl = local ? Infinity : this.#ttlMs;
      taken = await this.#state.acquireSlot(key, this.#holder(owner), limit, ttl);
    } catch (error) {
      this.#logger("warn", "Session count unavailable; admitting", { error: String(error) });
      return true;
    }
    if (!taken) return false;
    const keys = this.#held.get(owner);
    if (!keys) this.#held.set(owner, [key]);
    else if (!keys.includes(key)) keys.push(key);
    if (!local) this.#startRenewing();
    return true;
  }

  #holder(owner: string): string {
    return `${this.#nodeId}:${owner}`;
  }

  #startRenewing(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => this.#renew(), Math.max(1, Math.floor(this.#ttlMs / 3)));
    Deno.unrefTimer(this.#timer);
  }

  #stopRenewing(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #renew(): Promise<void> {
    const slots = [...this.#held].flatMap(([owner, keys]) =>
      [...keys].map((key) => ({ key, holder: this.#holder(owner) }))
    );
    try {
      await this.#state.renewSlots(slots, this.#ttlMs);
    } catch (error) {
      this.#logger("warn", "Renewing session slots failed", { error: String(error) });
    }
  }
}
