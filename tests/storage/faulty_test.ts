/** The failure-injecting wrapper, driven through the FTP server. */

import assert from "node:assert/strict";
import type { StorageConnector } from "../../mod.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { faultyStorage } from "../../src/testing/faulty.ts";
import { randomBytes, sha256, startServer } from "../helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function seeded(files: Record<string, Uint8Array>): Promise<MemoryStorage> {
  const memory = new MemoryStorage();
  for (const [path, data] of Object.entries(files)) {
    await memory.write(path, new Blob([data as Uint8Array<ArrayBuffer>]).stream());
  }
  return memory;
}

Deno.test("a read that fails after N bytes: 150, then 451, and only those bytes", async () => {
  const data = randomBytes(1024 * 1024);
  const memory = await seeded({ "/f.bin": data });
  await using ts = await startServer({
    storage: faultyStorage(memory, { failReadAfterBytes: 100_000 }),
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const { data: got, replies } = await client.download("RETR f.bin");
  assert.deepEqual(replies.map((r) => r.code), [150, 451]);
  assert.ok(got.length <= 100_000, `received ${got.length}`);
  assert.equal(await sha256(got), await sha256(data.subarray(0, got.length)));
  assert.equal((await client.send("NOOP")).code, 200);
});

Deno.test("a write that fails after N bytes: 451, and the previous file stays", async () => {
  const memory = await seeded({ "/f.bin": text("previous") });
  await using ts = await startServer({
    storage: faultyStorage(memory, { failWriteAfterBytes: 50_000 }),
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const replies = await client.upload("STOR f.bin", randomBytes(300_000));
  assert.deepEqual(replies.map((r) => r.code), [150, 451]);
  assert.match(replies[1].text, /Injected write failure/);
  assert.equal(
    new TextDecoder().decode(await new Response(await memory.read("/f.bin")).arrayBuffer()),
    "previous",
  );
});

Deno.test("a hanging read is ended by ABOR: 426, 226, and the session goes on", async () => {
  const memory = await seeded({ "/f.bin": randomBytes(1000) });
  await using ts = await startServer({ storage: faultyStorage(memory, { hangRead: true }) });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("RETR f.bin")).code, 150);
  const abor = await client.send("ABOR");
  const second = await client.read();
  assert.deepEqual([abor.code, second.code], [426, 226]);
  data.close();
  assert.equal((await client.send("NOOP")).code, 200);
});

Deno.test("a hanging write is ended by ABOR and stores nothing", async () => {
  const memory = await seeded({ "/f.bin": text("previous") });
  await using ts = await startServer({ storage: faultyStorage(memory, { hangWrite: 1000 }) });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("STOR f.bin")).code, 150);
  await data.write(randomBytes(5000));
  const abor = await client.send("ABOR");
  const codes = [abor.code];
  if (abor.code !== 226) codes.push((await client.read()).code);
  assert.equal(codes.at(-1), 226);
  assert.ok(codes.includes(426), `replies ${codes}`);
  data.close();
  assert.equal(
    new TextDecoder().decode(await new Response(await memory.read("/f.bin")).arrayBuffer()),
    "previous",
  );
  assert.equal((await client.send("NOOP")).code, 200);
});

Deno.test("a slow store delivers at about the rate asked", async () => {
  const data = randomBytes(200_000);
  const memory = await seeded({ "/f.bin": data });
  await using ts = await startServer({
    storage: faultyStorage(memory, { slowBytesPerSecond: 1_000_000 }),
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const started = performance.now();
  const { data: got, replies } = await client.download("RETR f.bin");
  const seconds = (performance.now() - started) / 1000;
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  assert.equal(await sha256(got), await sha256(data));
  assert.ok(seconds >= 0.15, `200 kB at 1 MB/s took only ${seconds} s`);
});

Deno.test("injected operation failures become their reply codes", async () => {
  const memory = await seeded({ "/f.bin": text("x") });
  await using ts = await startServer({
    storage: faultyStorage(memory, {
      failOperations: {
        mkdir: "storage_full",
        remove: "permission_denied",
        rename: "invalid_name",
      },
    }),
  });
  const client = await ts.client();
  assert.equal((await client.send("MKD d")).code, 452);
  assert.equal((await client.send("DELE f.bin")).code, 550);
  await client.send("RNFR f.bin");
  assert.equal((await client.send("RNTO g.bin")).code, 553);
  assert.equal((await client.send("SIZE f.bin")).text, "1", "other operations pass through");
});

Deno.test("faultyStorage keeps exactly the optional methods of its inner connector", () => {
  const wrapped = faultyStorage(new MemoryStorage(), {});
  assert.equal(typeof wrapped.setModifiedTime, "function");
  assert.equal(typeof wrapped.chmod, "function");
  const memory = new MemoryStorage();
  const minimal: StorageConnector = {
    stat: (path) => memory.stat(path),
    list: (path) => memory.list(path),
    read: (path, options) => memory.read(path, options),
    write: (path, source, options) => memory.write(path, source, options),
    mkdir: (path) => memory.mkdir(path),
    rmdir: (path) => memory.rmdir(path),
    remove: (path) => memory.remove(path),
    rename: (from, to) => memory.rename(from, to),
  };
  const bare = faultyStorage(minimal, {});
  assert.equal(bare.setModifiedTime, undefined);
  assert.throws(() => faultyStorage(new MemoryStorage(), { failReadAfterBytes: -1 }), RangeError);
});
