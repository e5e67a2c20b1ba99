/**
 * RETR through a connector's `openReader` (the fast path): a read that fails
 * midway is 451, a read that hangs still gives way to ABOR at once, TYPE A
 * keeps the stream path, and the file connector's REST offsets are exact.
 */

import assert from "node:assert/strict";
import { FileStorage, type ReadOptions, StorageError, type StorageReader } from "../../mod.ts";
import { randomBytes, sha256, startServer } from "../helpers.ts";
import { test } from "../deadline.ts";

/** A FileStorage whose readers misbehave after `goodBytes`: they fail, or hang. */
class MisbehavingStorage extends FileStorage {
  readonly #after: number;
  readonly #how: "fail" | "hang";
  readers = 0;
  released = 0;

  constructor(root: string, after: number, how: "fail" | "hang") {
    super({ root });
    this.#after = after;
    this.#how = how;
  }

  override async openReader(path: string, options?: ReadOptions): Promise<StorageReader> {
    const inner = await super.openReader(path, options);
    this.readers++;
    let sent = 0;
    return {
      read: (buffer) => {
        if (sent >= this.#after) {
          return this.#how === "fail"
            ? Promise.reject(new StorageError("io", "The disk went away"))
            : new Promise(() => {});
        }
        const read = inner.read(buffer.subarray(0, Math.min(buffer.length, this.#after - sent)));
        return read.then((n) => {
          sent += n ?? 0;
          return n;
        });
      },
      close: () => {
        this.released++;
        inner.close();
      },
    };
  }
}

test("RETR over openReader: a storage read failing midway is 451 and the file is released", async () => {
  const root = await Deno.makeTempDir();
  const storage = new MisbehavingStorage(root, 300_000, "fail");
  await using ts = await startServer({ storage });
  await Deno.writeFile(`${root}/f.bin`, randomBytes(1024 * 1024));
  const client = await ts.client();
  await client.send("TYPE I");
  const { data, replies } = await client.download("RETR f.bin");
  assert.deepEqual(replies.map((r) => r.code), [150, 451]);
  assert.ok(data.length <= 300_000);
  assert.equal(storage.readers, 1);
  assert.equal(storage.released, 1);
  await Deno.remove(root, { recursive: true });
});

test("RETR over openReader: ABOR ends a transfer whose storage read hangs at once", async () => {
  const root = await Deno.makeTempDir();
  const storage = new MisbehavingStorage(root, 100_000, "hang");
  await using ts = await startServer({ storage, dataStallTimeoutMs: 600_000 });
  await Deno.writeFile(`${root}/f.bin`, randomBytes(1024 * 1024));
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("RETR f.bin")).code, 150);
  let received = 0;
  const buffer = new Uint8Array(65536);
  while (received < 100_000) received += (await data.read(buffer)) ?? 0;
  const started = Date.now();
  const abor = await client.send("ABOR");
  const second = await client.read();
  assert.deepEqual([abor.code, second.code], [426, 226]);
  assert.ok(Date.now() - started < 2000, `ABOR took ${Date.now() - started} ms`);
  assert.equal(storage.released, 1);
  data.close();
  assert.equal((await client.send("NOOP")).code, 200);
  await Deno.remove(root, { recursive: true });
});

test("RETR over openReader: exact bytes from REST offsets; TYPE A keeps the stream path", async () => {
  const root = await Deno.makeTempDir();
  const storage = new MisbehavingStorage(root, Infinity, "fail");
  await using ts = await startServer({ storage });
  const data = randomBytes(600_000);
  await Deno.writeFile(`${root}/f.bin`, data);
  const client = await ts.client();
  await client.send("TYPE I");
  for (const offset of [0, 1, 262_143, 262_144, 262_145, 600_000]) {
    assert.equal((await client.send(`REST ${offset}`)).code, 350);
    const { data: got, replies } = await client.download("RETR f.bin");
    assert.deepEqual(replies.map((r) => r.code), [150, 226], `REST ${offset}`);
    assert.equal(await sha256(got), await sha256(data.subarray(offset)), `REST ${offset}`);
  }
  assert.equal(storage.readers, 6);
  await Deno.writeTextFile(`${root}/t.txt`, "a\nb\n");
  await client.send("TYPE A");
  const { data: text } = await client.download("RETR t.txt");
  assert.equal(new TextDecoder().decode(text), "a\r\nb\r\n");
  assert.equal(storage.readers, 6);
  await Deno.remove(root, { recursive: true });
});
