/**
 * A bounded pool of buffers shared by every download of the process.
 *
 * Measured (bench/copy_paths.ts, bench/README.md "Downloads: CPU per GiB and
 * buffers"): a fresh 1 MiB buffer per transfer held ~300 MiB with 300
 * downloads at once, and glibc kept most of it after they ended; taking a
 * 256 KiB buffer per chunk (read + write) from 32 shared ones held 8 MiB and
 * cost less CPU per GiB (the buffers stay in cache).
 *
 * @module
 */

/** What {@linkcode BufferPool} needs to know. */
export interface BufferPoolOptions {
  /** Bytes per buffer. */
  bufferBytes: number;
  /** Buffers the pool allocates and keeps; more only while it is stuck. */
  bound: number;
  /**
   * A transfer that has waited this long for a buffer (the others are out in
   * writes stuck on clients that stopped reading, or slow ones) gets a new
   * one, so stuck transfers can't stall every other one.
   */
  stuckAfterMs: number;
}

/**
 * Buffers handed out one at a time: {@linkcode take} one, give it back with
 * {@linkcode give} once nothing reads or writes it any more. When all
 * `bound` buffers are out, takers wait, first come first served, at most
 * `stuckAfterMs` (then a buffer is made for them). The pool keeps at most
 * `bound` free buffers: one made past the bound is kept while others are out
 * (they may be stuck for minutes: dropping it made its transfer wait again
 * before every chunk) and dropped once `bound` free ones are back.
 */
export class BufferPool {
  readonly #options: BufferPoolOptions;
  readonly #free: Uint8Array[] = [];
  /** Takers waiting for a buffer, first come first served, with when they began (ms). */
  readonly #waiting: { resolve: (buffer: Uint8Array) => void; since: number }[] = [];
  /** Buffers that exist: free, or out and expected back. */
  #existing = 0;
  #allocations = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  /** A pool as `options` says; it allocates nothing until asked. */
  constructor(options: BufferPoolOptions) {
    this.#options = options;
  }

  /** Buffers allocated so far (for tests and benchmarks). */
  get allocations(): number {
    return this.#allocations;
  }

  /** Buffers that exist now: free, or out and expected back. */
  get existing(): number {
    return this.#existing;
  }

  /** A buffer: at once when one is free or may be made, else when one comes back. */
  take(): Uint8Array | Promise<Uint8Array> {
    const free = this.#free.pop();
    if (free) return free;
    if (this.#existing < this.#options.bound) return this.#allocate();
    const waited = new Promise<Uint8Array>((resolve) =>
      this.#waiting.push({ resolve, since: performance.now() })
    );
    this.#watchdog ??= setInterval(() => this.#checkStuck(), this.#options.stuckAfterMs / 2);
    return waited;
  }

  /** Give back a buffer from {@linkcode take}; nothing may touch it any more. */
  give(buffer: Uint8Array): void {
    const waiter = this.#waiting.shift();
    if (waiter) {
      if (this.#waiting.length === 0) this.#stopWatchdog();
      waiter.resolve(buffer);
    } else if (this.#free.length >= this.#options.bound) {
      this.#existing--; // made while the pool was stuck, and no longer needed: dropped
    } else {
      this.#free.push(buffer);
    }
  }

  /**
   * Say that a buffer from {@linkcode take} will not come back (a read into it
   * may still be pending after an abort); the pool may make another.
   */
  forget(): void {
    this.#existing--;
    if (this.#waiting.length > 0 && this.#existing < this.#options.bound) {
      const waiter = this.#waiting.shift()!;
      if (this.#waiting.length === 0) this.#stopWatchdog();
      waiter.resolve(this.#allocate());
    }
  }

  #allocate(): Uint8Array {
    this.#existing++;
    this.#allocations++;
    return new Uint8Array(this.#options.bufferBytes);
  }

  /** Make a buffer for every taker that has waited `stuckAfterMs` (the oldest come first). */
  #checkStuck(): void {
    const oldest = performance.now() - this.#options.stuckAfterMs;
    while (this.#waiting.length > 0 && this.#waiting[0].since <= oldest) {
      this.#waiting.shift()!.resolve(this.#allocate());
    }
    if (this.#waiting.length === 0) this.#stopWatchdog();
  }

  #stopWatchdog(): void {
    if (this.#watchdog === undefined) return;
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}

/** The size of each download buffer: measured best of 64 KiB, 128 KiB, 256 KiB and 1 MiB. */
export const SEND_BUFFER_BYTES = 256 * 1024;

/** Download buffers kept by the process (8 MiB). */
export const SEND_BUFFERS_KEPT = 32;

/** The buffers of every download (RETR) in the process. */
export const sendBuffers: BufferPool = new BufferPool({
  bufferBytes: SEND_BUFFER_BYTES,
  bound: SEND_BUFFERS_KEPT,
  stuckAfterMs: 100,
});
