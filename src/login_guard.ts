/**
 * Brute-force protection across sessions: failed logins are counted per
 * client address, and an address with too many in a window is refused (421,
 * at connect and at its open sessions' next USER/PASS) until the ban ends.
 *
 * @module
 */

/** The reply to a banned address, the same at connect and at USER/PASS. */
export const BANNED_REPLY = "Too many failed logins from your address; try again later";

/** Most addresses tracked at once; the oldest are forgotten first. */
const MAX_TRACKED = 100_000;

interface Record {
  /** Times of recent failures (ms), oldest first. */
  failures: number[];
  /** Banned until (ms since epoch), or 0. */
  bannedUntil: number;
}

/** Counts failed logins per IP and bans addresses that exceed the limit. */
export class LoginGuard {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: () => number;
  readonly #records = new Map<string, Record>();

  /**
   * @param limit failures within the window that start a ban (0 disables banning)
   * @param windowMs both how far back failures count and how long a ban lasts
   */
  constructor(limit: number, windowMs: number, clock: () => number = Date.now) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /** Whether `ip` is banned now. */
  isBanned(ip: string): boolean {
    const record = this.#records.get(ip);
    if (!record) return false;
    if (record.bannedUntil > this.#clock()) return true;
    if (record.bannedUntil !== 0) this.#records.delete(ip); // ban over: start afresh
    return false;
  }

  /** Count a failed login; returns true when it starts a ban. */
  recordFailure(ip: string): boolean {
    if (this.#limit <= 0) return false;
    const now = this.#clock();
    let record = this.#records.get(ip);
    if (!record) {
      if (this.#records.size >= MAX_TRACKED) this.#forgetOldest();
      record = { failures: [], bannedUntil: 0 };
      this.#records.set(ip, record);
    }
    record.failures = record.failures.filter((t) => now - t < this.#windowMs);
    record.failures.push(now);
    if (record.failures.length >= this.#limit && record.bannedUntil <= now) {
      record.bannedUntil = now + this.#windowMs;
      record.failures = [];
      return true;
    }
    return false;
  }

  #forgetOldest(): void {
    // Maps iterate in insertion order: drop the first tenth.
    let drop = Math.ceil(MAX_TRACKED / 10);
    for (const ip of this.#records.keys()) {
      if (drop-- <= 0) break;
      this.#records.delete(ip);
    }
  }
}
