/**
 * Bandwidth limits: a token bucket per user and direction, shared by all of
 * that user's sessions on this node, and a storage wrapper that throttles the
 * byte streams of downloads (`read`) and uploads (`write`) through it.
 *
 * The budget is per node: sessions of one user on two nodes of a fleet get
 * the limit twice. Sharing it across nodes would cost a round trip to the
 * shared state per few milliseconds of data, which is what the bucket is
 * meant to avoid.
 *
 * @module
 */

import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "../storage/types.ts";

/**
 * The bucket holds at most this much time's worth of bytes: a transfer never
 * sends more than 100 ms of its budget at once, so throughput is smooth at
 * the scale a client measures (no bursts of seconds).
 */
const BURST_MS = 100;

interface Waiter {
  bytes: number;
  resolve(): void;
  reject(reason: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A token bucket: `rate` bytes per second, holding at most 100 ms worth.
 * Waiters are served first come, first served. A timer runs only while
 * someone waits (an idle bucket costs nothing), and a waiter whose signal
 * aborts leaves at once.
 */
export class TokenBucket {
  #rate: number;
  #capacity: number;
  #tokens: number;
  #refilledAt: number;
  readonly #queue: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A bucket of `bytesPerSecond` (a positive number), holding one chunk at start. */
  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) {
      throw new RangeError(`Bytes per second must be above 0, got ${bytesPerSecond}`);
    }
    this.#rate = bytesPerSecond;
    this.#capacity = TokenBucket.#capacityOf(bytesPerSecond);
    // One chunk to start with, not a full bucket: a transfer's first 100 ms
    // would otherwise run at twice the rate.
    this.#tokens = Math.max(1, Math.floor(this.#capacity / 4));
    this.#refilledAt = performance.now();
  }

  static #capacityOf(rate: number): number {
    return Math.max(1, Math.floor(rate * BURST_MS / 1000));
  }

  /** Bytes per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Change the rate (a user's profile changed); waiters keep their place. */
  set rate(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || bytesPerSecond === this.#rate) return;
    this.#refill();
    this.#rate = bytesPerSecond;
    this.#capacity = TokenBucket.#capacityOf(bytesPerSecond);
    this.#tokens = Math.min(this.#tokens, this.#capacity);
  }

  /** The most bytes one {@linkcode take} may ask for (100 ms worth). */
  get burst(): number {
    return this.#capacity;
  }

  /**
   * The size a paced stream cuts its chunks to: a quarter of the bucket, so a
   * timer that fires late (a busy event loop) finds the tokens that accrued
   * meanwhile still in the bucket instead of losing them to its cap. Takes as
   * large as the bucket measured 5-9 % below the limit; a quarter, within 1-3 %.
   */
  get chunk(): number {
    return Math.max(1, Math.floor(this.#capacity / 4));
  }

  /**
   * Resolve once `bytes` (at most {@linkcode burst}) may be sent; rejects
   * with the signal's reason as soon as it aborts.
   */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const wanted = Math.min(Math.max(0, bytes), this.#capacity);
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= wanted) {
      this.#tokens -= wanted;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes: wanted, resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          reject(signal.reason);
          this.#reschedule();
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#reschedule();
    });
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + (now - this.#refilledAt) * this.#rate / 1000,
    );
    this.#refilledAt = now;
  }

  /** Serve who can be served, and sleep until the next one can (no timer when none waits). */
  #reschedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#refill();
    while (this.#queue.length > 0 && this.#tokens >= this.#queue[0].bytes) {
      const waiter = this.#queue.shift()!;
      this.#tokens -= waiter.bytes;
      if (waiter.onAbort) waiter.signal!.removeEventListener("abort", waiter.onAbort);
      waiter.resolve();
    }
    if (this.#queue.length === 0) return;
    const missing = this.#queue[0].bytes - this.#tokens;
    this.#timer = setTimeout(() => this.#reschedule(), Math.ceil(missing * 1000 / this.#rate));
  }
}

/**
 * `source` at the pace of `bucket`: chunks are cut to the bucket's chunk and
 * each waits for its tokens. Cancelling the result, or `signal` aborting,
 * ends a wait at once (ABOR is never held up by the throttle). A byte stream
 * (an upload's data connection) stays one: reads go straight into the
 * reader's buffer, with no chunk allocated per read.
 */
export function throttleStream(
  source: ReadableStream<Uint8Array>,
  bucket: TokenBucket,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  const cancelled = new AbortController();
  const stop = signal ? AbortSignal.any([signal, cancelled.signal]) : cancelled.signal;
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = source.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: chunk by chunk below.
  }
  if (byob) {
    const reader = byob;
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: THROTTLED_READ_BYTES,
      async pull(controller) {
        const request = controller.byobRequest!;
        const view = request.view as Uint8Array;
        const size = Math.min(view.byteLength, bucket.chunk);
        const result = await reader.read(new Uint8Array(view.buffer, view.byteOffset, size));
        if (result.done) {
          controller.close();
          request.respondWithNewView(result.value ?? new Uint8Array(0));
          return;
        }
        await bucket.take(result.value.length, stop);
        request.respondWithNewView(result.value);
      },
      cancel(reason) {
        cancelled.abort(reason);
        return reader.cancel(reason);
      },
    });
  }
  const reader = source.getReader();
  let pending: Uint8Array | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!pending || pending.length === 0) {
        const result = await reader.read();
        if (result.done) {
          controller.close();
          return;
        }
        pending = result.value;
      }
      const bytes = Math.min(pending.length, bucket.chunk);
      await bucket.take(bytes, stop);
      controller.enqueue(pending.subarray(0, bytes));
      pending = pending.subarray(bytes);
    },
    cancel(reason) {
      cancelled.abort(reason);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Each read's size when a throttled byte stream is read without a buffer of the reader's. */
const THROTTLED_READ_BYTES = 256 * 1024;

/** A bucket lent to a session; give it back when the session ends. */
export interface BucketLease {
  /** The shared bucket. */
  readonly bucket: TokenBucket;
  /** Stop using it (the last lease forgets the bucket). */
  release(): void;
}

/**
 * The buckets of one server, by key (`download:<user>`, `upload:<user>`):
 * every session of a user on this node leases the same one, so the user's
 * budget is shared, not per transfer.
 */
export class BandwidthBudgets {
  readonly #buckets = new Map<string, { bucket: TokenBucket; leases: number }>();

  /** Lease the bucket of `key`, made at `bytesPerSecond` (or set to it: the newest profile wins). */
  lease(key: string, bytesPerSecond: number): BucketLease {
    let entry = this.#buckets.get(key);
    if (entry) entry.bucket.rate = bytesPerSecond;
    else {
      entry = { bucket: new TokenBucket(bytesPerSecond), leases: 0 };
      this.#buckets.set(key, entry);
    }
    entry.leases++;
    const held = entry;
    let released = false;
    return {
      bucket: held.bucket,
      release: () => {
        if (released) return;
        released = true;
        if (--held.leases === 0 && this.#buckets.get(key) === held) this.#buckets.delete(key);
      },
    };
  }

  /** How many buckets are in use (for tests). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Options of {@linkcode ThrottledStorage}. */
export interface ThrottleOptions {
  /** The bucket downloads (`read`) take from; none: unthrottled. */
  download?: BucketLease;
  /** The bucket uploads (`write`) take from; none: unthrottled. */
  upload?: BucketLease;
}

/**
 * A connector whose file reads and writes are paced by the user's buckets;
 * closing it gives the buckets back. Listings are not throttled.
 */
export class ThrottledStorage implements StorageConnector {
  readonly #inner: StorageConnector;
  readonly #options: ThrottleOptions;
  /** Set the modification time (present when the inner connector has it). */
  readonly setModifiedTime?: (path: string, time: Date) => Promise<void>;
  /** Change permission bits (present when the inner connector has it). */
  readonly chmod?: (path: string, mode: number) => Promise<void>;
  /** The kept checksum (present when the inner connector has it): reads nothing, so not paced. */
  readonly checksum?: StorageConnector["checksum"];

  /** Pace `inner` by the leases in `options`. */
  constructor(inner: StorageConnector, options: ThrottleOptions) {
    this.#inner = inner;
    this.#options = options;
    if (inner.setModifiedTime) {
      this.setModifiedTime = (path, time) => inner.setModifiedTime!(path, time);
    }
    if (inner.chmod) this.chmod = (path, mode) => inner.chmod!(path, mode);
    if (inner.checksum) this.checksum = (path, algorithm) => inner.checksum!(path, algorithm);
  }

  /** The connector below. */
  get inner(): StorageConnector {
    return this.#inner;
  }

  stat(path: string): Promise<FileInfo> {
    return this.#inner.stat(path);
  }

  list(path: string): AsyncIterable<FileInfo> {
    return this.#inner.list(path);
  }

  async read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
    const source = await this.#inner.read(path, options);
    const lease = this.#options.download;
    return lease ? throttleStream(source, lease.bucket, options?.signal) : source;
  }

  write(path: string, source: ReadableStream<Uint8Array>, options?: WriteOptions): Promise<number> {
    const lease = this.#options.upload;
    const paced = lease ? throttleStream(source, lease.bucket, options?.signal) : source;
    return this.#inner.write(path, paced, options);
  }

  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(path);
  }

  rmdir(path: string): Promise<void> {
    return this.#inner.rmdir(path);
  }

  remove(path: string): Promise<void> {
    return this.#inner.remove(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.#inner.rename(from, to);
  }

  async close(): Promise<void> {
    this.#options.download?.release();
    this.#options.upload?.release();
    await this.#inner.close?.();
  }
}
