/**
 * Brute-force protection across sessions (and, with `cluster`, across the
 * nodes of a fleet): failed logins are counted per client address in a
 * {@linkcode SharedState}, and an address with too many in a window is
 * refused (421, at connect and at its open sessions' next USER/PASS) until
 * the ban ends.
 *
 * @module
 */

import { MemoryState, type SharedState } from "./cluster/state.ts";

/** The reply to a banned address, the same at connect and at USER/PASS. */
export const BANNED_REPLY = "Too many failed logins from your address; try again later";

/** Counts failed logins per IP and bans addresses that exceed the limit. */
export class LoginGuard {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #state: SharedState;

  /**
   * @param limit failures within the window that start a ban (0 disables banning)
   * @param windowMs both how far back failures count and how long a ban lasts
   * @param state where counts and bans live (this process by default)
   */
  constructor(limit: number, windowMs: number, state: SharedState = new MemoryState()) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#state = state;
  }

  /** Whether `ip` is banned now. A state that fails answers "no": never refuse for it. */
  async isBanned(ip: string): Promise<boolean> {
    if (this.#limit <= 0) return false;
    try {
      return await this.#state.hasFlag(`ban:${ip}`);
    } catch {
      return false;
    }
  }

  /** Count a failed login; resolves true when it starts a ban. */
  async recordFailure(ip: string): Promise<boolean> {
    if (this.#limit <= 0) return false;
    try {
      const failures = await this.#state.hit(`failures:${ip}`, this.#windowMs);
      if (failures < this.#limit || await this.#state.hasFlag(`ban:${ip}`)) return false;
      await this.#state.setFlag(`ban:${ip}`, this.#windowMs);
      await this.#state.clearHits(`failures:${ip}`);
      return true;
    } catch {
      return false;
    }
  }
}
