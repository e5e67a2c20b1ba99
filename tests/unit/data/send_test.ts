import assert from "node:assert/strict";
import { BufferPool, SEND_BUFFER_BYTES, sendBuffers } from "../../../src/data/buffer_pool.ts";
import type { ByteConnection } from "../../../src/data/connection.ts";
import { sendFile, sendStream } from "../../../src/data/streams.ts";
import { TransferProgress } from "../../../src/data/transfer.ts";
import { StorageError } from "../../../src/errors.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import type { StorageReader } from "../../../src/storage/types.ts";
import { randomBytes } from "../../helpers.ts";

const B = SEND_BUFFER_BYTES;
/** Sizes around the send buffer's boundaries. */
const SIZES = [0, 1, B - 1, B, B + 1, 3 * B + 7];

/** A data connection that keeps what it gets, taking at most `slice` bytes per write. */
class CollectingConnection implements ByteConnection {
  readonly parts: Uint8Array[] = [];
  readonly localAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;
  readonly remoteAddr = { transport: "tcp", hostname: "127.0.0.1", port: 2 } as const;
  readonly #slice: number;
  readonly #delay: () => Promise<void>;
  constructor(slice = 100_000, delay = () => Promise.resolve()) {
    this.#slice = slice;
    this.#delay = delay;
  }
  read(): Promise<number | null> {
    return Promise.resolve(null);
  }
  async write(data: Uint8Array): Promise<number> {
    await this.#delay();
    const n = Math.min(this.#slice, data.length);
    this.parts.push(data.slice(0, n)); // a copy: the sender reuses its buffer
    return n;
  }
  close(): void {}
  bytes(): Uint8Array {
    const all = new Uint8Array(this.parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of this.parts) {
      all.set(part, offset);
      offset += part.length;
    }
    return all;
  }
}

/** A reader over bytes in memory, returning at most `step` bytes per read. */
function memoryReader(data: Uint8Array, step = Infinity): StorageReader & { closed: boolean } {
  let offset = 0;
  return {
    closed: false,
    read(buffer) {
      if (offset >= data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, step, data.length - offset);
      buffer.set(data.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
    close() {
      this.closed = true;
    },
  };
}

async function withTempFile<T>(data: Uint8Array, run: (storage: FileStorage) => Promise<T>) {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${root}/f.bin`, data);
    return await run(new FileStorage({ root }));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("sendFile sends every byte exactly at the send buffer's boundaries", async () => {
  for (const size of SIZES) {
    const data = randomBytes(size);
    for (const step of [Infinity, 1000]) {
      const connection = new CollectingConnection(70_000);
      const progress = new TransferProgress();
      const sent = await sendFile(
        memoryReader(data, step),
        connection,
        new AbortController().signal,
        progress,
      );
      assert.equal(sent, size, `size ${size}, step ${step}`);
      assert.deepEqual(connection.bytes(), data, `size ${size}, step ${step}`);
    }
  }
});

Deno.test("sendStream sends every byte exactly at the send buffer's boundaries", async () => {
  for (const size of SIZES) {
    const data = randomBytes(size);
    const sources = {
      "a byte stream (file)": () => withTempFile(data, (s) => s.read("/f.bin").then(send)),
      "a default stream": () => send(new Blob([data as Uint8Array<ArrayBuffer>]).stream()),
    };
    for (const [name, run] of Object.entries(sources)) {
      const received = await run();
      assert.deepEqual(received, data, `${name}, size ${size}`);
    }
  }
  async function send(source: ReadableStream<Uint8Array>): Promise<Uint8Array> {
    const connection = new CollectingConnection(70_000);
    await sendStream(source, connection, new AbortController().signal, new TransferProgress());
    return connection.bytes();
  }
});

Deno.test("FileStorage.openReader + sendFile: byte-exact from REST offsets around the buffer size", async () => {
  const data = randomBytes(2 * B + 3);
  await withTempFile(data, async (storage) => {
    for (const offset of [0, 1, B - 1, B, B + 1, data.length]) {
      const reader = await storage.openReader("/f.bin", { offset });
      const connection = new CollectingConnection();
      try {
        await sendFile(reader, connection, new AbortController().signal, new TransferProgress());
      } finally {
        reader.close();
      }
      assert.deepEqual(connection.bytes(), data.subarray(offset), `offset ${offset}`);
    }
  });
});

Deno.test("sendFile: a failing storage read is a StorageError (451), the buffer goes back", async () => {
  const existing = sendBuffers.existing;
  const failing: StorageReader = {
    read: () => Promise.reject(new Error("disk on fire")),
    close() {},
  };
  const error = await sendFile(
    failing,
    new CollectingConnection(),
    new AbortController().signal,
    new TransferProgress(),
  ).catch((e) => e);
  assert.ok(error instanceof StorageError);
  assert.equal(error.kind, "io");
  const typed: StorageReader = {
    read: () => Promise.reject(new StorageError("permission_denied", "no")),
    close() {},
  };
  const passed = await sendFile(
    typed,
    new CollectingConnection(),
    new AbortController().signal,
    new TransferProgress(),
  ).catch((e) => e);
  assert.equal(passed.kind, "permission_denied");
  assert.equal(sendBuffers.existing, existing);
});

Deno.test("sendFile: an abort ends a transfer whose storage read hangs at once", async () => {
  const existing = sendBuffers.existing;
  let release!: (n: number | null) => void;
  let reads = 0;
  const hanging: StorageReader = {
    read: () => {
      reads++;
      return new Promise((resolve) => release = resolve);
    },
    close() {},
  };
  const controller = new AbortController();
  const sending = sendFile(hanging, new CollectingConnection(), controller.signal, {
    add() {},
    bytes: 0,
  } as unknown as TransferProgress);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(reads, 1);
  controller.abort(new Error("ABOR"));
  assert.equal(await sending, 0);
  // The pending read's buffer is not given back (it may still be filled)...
  assert.equal(sendBuffers.existing, Math.max(existing - 1, 0));
  release(5); // ...and the late read changes nothing.
});

Deno.test("sendFile: an abort mid-transfer ends it at once and stops reading", async () => {
  const controller = new AbortController();
  let writes = 0;
  const connection = new CollectingConnection(B, () => {
    if (++writes === 3) controller.abort(new Error("ABOR"));
    return Promise.resolve();
  });
  const reader = memoryReader(randomBytes(20 * B));
  const sent = await sendFile(reader, connection, controller.signal, new TransferProgress());
  assert.ok(sent <= 3 * B, `sent ${sent}`);
});

Deno.test("a BufferPool waits beyond its bound, first come first served, and grows only when stuck", async () => {
  const pool = new BufferPool({ bufferBytes: 16, bound: 2, stuckAfterMs: 20 });
  const a = pool.take() as Uint8Array;
  const b = pool.take() as Uint8Array;
  const first = pool.take() as Promise<Uint8Array>;
  const second = pool.take() as Promise<Uint8Array>;
  assert.ok(first instanceof Promise && second instanceof Promise);
  pool.give(a);
  assert.equal(await first, a);
  assert.equal(pool.allocations, 2);
  // Nothing comes back: after stuckAfterMs the second waiter gets a new buffer.
  const extra = await second;
  assert.notEqual(extra, b);
  assert.equal(pool.allocations, 3);
  assert.equal(pool.existing, 3);
  pool.give(extra); // kept while a and b are out: they may be stuck
  assert.equal(pool.existing, 3);
  pool.give(a);
  pool.give(b); // `bound` free buffers are back: the one beyond is dropped
  assert.equal(pool.existing, 2);
  assert.equal(pool.take(), a);
  pool.forget(); // a is lost: the pool may make another
  assert.equal(pool.existing, 1);
});

/**
 * The guard: concurrent downloads don't each allocate a large buffer. 100
 * transfers at once, each sending 2 MiB to a connection whose writes take a
 * timer tick; with a fresh 1 MiB buffer per transfer (the old sendStream)
 * external memory grew by ~100 MiB while they ran.
 */
Deno.test("100 downloads at once share the bounded send buffers instead of one each", async () => {
  const data = randomBytes(2 * 1024 * 1024);
  await withTempFile(data, async (storage) => {
    for (const path of ["stream", "file"] as const) {
      const allocations = sendBuffers.allocations;
      const before = Deno.memoryUsage().external;
      let peak = 0;
      const tick = () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            peak = Math.max(peak, Deno.memoryUsage().external - before);
            resolve();
          }, 1)
        );
      const transfers = Array.from({ length: 100 }, async () => {
        const connection = new CountingConnection(tick);
        const signal = new AbortController().signal;
        if (path === "stream") {
          await sendStream(
            await storage.read("/f.bin"),
            connection,
            signal,
            new TransferProgress(),
          );
        } else {
          const reader = await storage.openReader("/f.bin");
          try {
            await sendFile(reader, connection, signal, new TransferProgress());
          } finally {
            reader.close();
          }
        }
        assert.equal(connection.bytes, data.length);
      });
      await Promise.all(transfers);
      const MIB = 1024 * 1024;
      assert.ok(peak < 24 * MIB, `${path}: external memory grew by ${peak / MIB} MiB`);
      assert.ok(
        sendBuffers.allocations - allocations <= 32,
        `${path}: ${sendBuffers.allocations - allocations} buffers allocated`,
      );
    }
  });
});

/** Counts the bytes it gets (keeps no copies), each write after `delay`. */
class CountingConnection implements ByteConnection {
  bytes = 0;
  readonly localAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;
  readonly remoteAddr = { transport: "tcp", hostname: "127.0.0.1", port: 2 } as const;
  readonly #delay: () => Promise<void>;
  constructor(delay: () => Promise<void>) {
    this.#delay = delay;
  }
  read(): Promise<number | null> {
    return Promise.resolve(null);
  }
  async write(data: Uint8Array): Promise<number> {
    await this.#delay();
    this.bytes += data.length;
    return data.length;
  }
  close(): void {}
}

/**
 * The guard for downloads stuck on clients that stopped reading (each keeps
 * its buffer in a pending write until the stall timeout): once the pool has
 * made a buffer past its bound for a waiting transfer, that transfer keeps
 * cycling it without waiting again. Before, the buffer was dropped on its way
 * back (the pool was above its bound), so with 32 stuck downloads every other
 * download waited for the watchdog before each 256 KiB chunk (measured with
 * the CLI: 100 clients that stopped reading, curl got 0.9 MB/s).
 */
Deno.test("a BufferPool whose buffers are stuck out lets a moving transfer cycle one without waiting", async () => {
  const pool = new BufferPool({ bufferBytes: 16, bound: 2, stuckAfterMs: 20 });
  // Out in writes to clients that stopped reading.
  const stuck = [pool.take() as Uint8Array, pool.take() as Uint8Array];
  const first = pool.take();
  assert.ok(first instanceof Promise);
  let buffer = await first; // made once the others were out too long
  let waits = 0;
  for (let chunk = 0; chunk < 20; chunk++) {
    pool.give(buffer);
    const taken = pool.take();
    if (taken instanceof Promise) waits++;
    buffer = await taken;
  }
  assert.equal(waits, 0, "the moving transfer waited for a buffer");
  assert.equal(pool.existing, 3);
  pool.give(buffer);
  pool.give(stuck[0]);
  pool.give(stuck[1]);
  assert.equal(pool.existing, 2, "back to its bound once every buffer came back");
});
