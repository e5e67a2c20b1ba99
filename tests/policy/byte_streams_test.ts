/**
 * The quota and bandwidth wrappers keep an upload a byte stream: the
 * connector reads it into its own buffer (BYOB), as it does without them.
 * Read through a default reader, every chunk was a fresh 256 KiB buffer and
 * the file connector wrote 4 times as often (bench/README.md, "Uploads: where
 * the CPU went").
 */

import assert from "node:assert/strict";
import type { FtpUser } from "../../src/auth/types.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { WriteOptions } from "../../src/storage/types.ts";
import { commandHarness } from "../../src/testing/harness.ts";
import { randomBytes } from "../helpers.ts";

const BUFFER_BYTES = 1 << 20;

/** Memory storage whose writes read the upload as the file connector does: one own buffer. */
class BufferReadingStorage extends MemoryStorage {
  /** Per write: whether the upload could be read into the connector's buffer. */
  readonly byob: boolean[] = [];
  /** The size of the buffer behind every chunk read. */
  readonly buffers = new Set<number>();

  override async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options?: WriteOptions,
  ): Promise<number> {
    let reader: ReadableStreamBYOBReader;
    try {
      reader = source.getReader({ mode: "byob" });
    } catch {
      this.byob.push(false);
      return await super.write(path, source, options);
    }
    this.byob.push(true);
    const chunks: Uint8Array[] = [];
    let buffer = new Uint8Array(BUFFER_BYTES);
    for (;;) {
      const result = await reader.read(buffer);
      if (result.done) break;
      chunks.push(result.value.slice());
      this.buffers.add(result.value.buffer.byteLength);
      buffer = new Uint8Array(result.value.buffer as ArrayBuffer);
    }
    reader.releaseLock();
    return await super.write(path, new Blob(chunks as Uint8Array<ArrayBuffer>[]).stream(), options);
  }
}

for (
  const [limit, profile] of [
    ["a quota", { quotaBytes: 100_000_000, maxUploadBytes: 50_000_000 }],
    ["a bandwidth limit", { uploadBytesPerS: 1_000_000_000 }],
    ["a quota and a bandwidth limit", { quotaBytes: 100_000_000, uploadBytesPerS: 1_000_000_000 }],
  ] as const
) {
  Deno.test(`an upload under ${limit} reaches the connector as a byte stream read into its buffer`, async () => {
    const storage = new BufferReadingStorage();
    const user: FtpUser = { username: "alice", ...profile };
    await using h = commandHarness({ storage, user });
    const bytes = randomBytes(3 * BUFFER_BYTES + 12_345);
    assert.equal((await h.run("TYPE I")).code, 200);
    assert.equal((await h.transfer("STOR /up.bin", bytes)).code, 226);
    assert.deepEqual(storage.byob, [true]);
    assert.deepEqual([...storage.buffers], [BUFFER_BYTES], "every chunk in the connector's buffer");
    const back = await h.transfer("RETR /up.bin");
    assert.equal(back.code, 226);
    assert.deepEqual(back.data, bytes);
  });
}
