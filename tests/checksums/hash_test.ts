/**
 * HASH's protocol over a raw connection: OPTS HASH, FEAT, the draft's error
 * replies, ranges, stale checksums never served, and a checksum read beside
 * the control loop that STAT reports and ABOR stops.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MemoryStorage } from "../../mod.ts";
import type { StorageConnector } from "../../src/storage/types.ts";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { randomBytes, startServer } from "../helpers.ts";
import { S3RVER_CREDENTIALS, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { countingReads } from "./_fixtures.ts";
import { CHECKSUMS_FOLDER } from "../../src/storage/file_checksums.ts";

const hex = (algorithm: string, bytes: Uint8Array) =>
  createHash(algorithm).update(bytes).digest("hex");

Deno.test("OPTS HASH says and changes the algorithm; FEAT stars the selected one", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  const feat = async () => (await client.send("FEAT")).lines.find((l) => l.includes("HASH "));
  assert.equal(await feat(), " HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32");
  assert.equal((await client.send("OPTS HASH")).text, "SHA-256");
  const md5 = await client.send("OPTS HASH md5");
  assert.deepEqual([md5.code, md5.text], [200, "MD5"]);
  assert.equal((await client.send("OPTS HASH")).text, "MD5");
  assert.equal(await feat(), " HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32");
  const bad = await client.send("OPTS HASH CRC-37");
  assert.equal(bad.code, 501);
  assert.match(bad.text, /current selection not changed/);
  assert.equal((await client.send("OPTS HASH")).text, "MD5");
  assert.equal((await client.send("OPTS HASH sha256")).text, "SHA-256");
  for (const verb of ["XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"]) {
    assert.ok((await client.send("FEAT")).lines.includes(` ${verb}`), verb);
  }
  assert.ok(!(await client.send("FEAT")).lines.some((l) => l.startsWith(" RANG")));
});

Deno.test("HASH of a folder is 553 and of a missing file 550 (the draft); a bad range is 501", async () => {
  await using ts = await startServer();
  await Deno.mkdir(`${ts.root}/folder`);
  await Deno.writeFile(`${ts.root}/ten.bin`, new Uint8Array(10));
  const client = await ts.client();
  assert.equal((await client.send("HASH folder")).code, 553);
  assert.equal((await client.send("HASH missing.bin")).code, 550);
  assert.equal((await client.send("XCRC folder")).code, 550);
  assert.equal((await client.send("XMD5 missing.bin")).code, 550);
  assert.equal((await client.send("HASH")).code, 501);
  assert.equal((await client.send("XCRC ten.bin 5 11")).code, 501);
  assert.equal((await client.send("XCRC ten.bin 6 5")).code, 501);
  const empty = await client.send("XCRC ten.bin 4 4");
  assert.deepEqual([empty.code, empty.text], [250, "00000000"]);
});

Deno.test("X-commands take a start and an end (exclusive), and quoted names with spaces", async () => {
  await using ts = await startServer();
  const bytes = randomBytes(5000);
  await Deno.writeFile(`${ts.root}/with space 7`, bytes);
  await Deno.writeFile(`${ts.root}/with space`, bytes.subarray(0, 100));
  const client = await ts.client();
  // The whole argument names a file: it wins over "with space" + start 7.
  assert.equal(
    (await client.send("XSHA256 with space 7")).text,
    hex("sha256", bytes).toUpperCase(),
  );
  assert.equal(
    (await client.send('XSHA256 "with space 7" 10 4000')).text,
    hex("sha256", bytes.subarray(10, 4000)).toUpperCase(),
  );
  assert.equal(
    (await client.send("XMD5 with space 3 50")).text,
    hex("md5", bytes.subarray(3, 50)).toUpperCase(),
  );
  assert.equal(
    (await client.send("XSHA1 with space 3")).text,
    hex("sha1", bytes.subarray(3, 100)).toUpperCase(),
  );
});

Deno.test("a file changed behind the server's back never gets its old checksum", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  await client.send("TYPE I");
  const first = randomBytes(100_000);
  await client.upload("STOR f.bin", first);
  assert.match((await client.send("HASH f.bin")).text, new RegExp(hex("sha256", first)));

  // Same size, same inode, other bytes (written in place). The one change this
  // can't see is one within the same millisecond as the upload (Deno's mtime
  // resolution; see src/storage/file_checksums.ts), so step past it first.
  await new Promise((resolve) => setTimeout(resolve, 2));
  const second = randomBytes(100_000);
  const file = await Deno.open(`${ts.root}/f.bin`, { write: true });
  await file.write(second);
  file.close();
  assert.match((await client.send("HASH f.bin")).text, new RegExp(hex("sha256", second)));

  // Replaced by another file (a new inode), and truncated.
  const third = randomBytes(100_000);
  await Deno.writeFile(`${ts.root}/other.bin`, third);
  await Deno.rename(`${ts.root}/other.bin`, `${ts.root}/f.bin`);
  assert.match((await client.send("HASH f.bin")).text, new RegExp(hex("sha256", third)));
  await Deno.truncate(`${ts.root}/f.bin`, 10);
  assert.equal(
    (await client.send("HASH f.bin")).text,
    `SHA-256 0-9 ${hex("sha256", third.subarray(0, 10))} f.bin`,
  );

  // APPE and REST + STOR change the file without a whole-file checksum: recomputed.
  await client.upload("STOR g.bin", first);
  await client.upload("APPE g.bin", second);
  const appended = new Uint8Array([...first, ...second]);
  assert.match((await client.send("XCRC g.bin")).code.toString(), /^250$/);
  assert.equal((await client.send("XMD5 g.bin")).text, hex("md5", appended).toUpperCase());
});

Deno.test({
  name: "S3: an object replaced behind the server's back never gets its old checksum",
  ignore: s3rverUnavailable() !== undefined,
  async fn() {
    await using s3 = await startS3rver();
    using storage = s3.freshStorage();
    await using ts = await startServer({ storage });
    const client = await ts.client();
    await client.send("TYPE I");
    const first = randomBytes(50_000);
    await client.upload("STOR f.bin", first);
    assert.match((await client.send("HASH f.bin")).text, new RegExp(hex("sha256", first)));
    const sdk = new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { ...S3RVER_CREDENTIALS },
    });
    const second = randomBytes(50_000);
    await sdk.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: `${storage.keyPrefix}f.bin`, Body: second }),
    );
    sdk.destroy();
    assert.match((await client.send("HASH f.bin")).text, new RegExp(hex("sha256", second)));
  },
});

/** A connector whose reads trickle (64 KiB every 20 ms), for a HASH that takes a while. */
function slowReads(inner: StorageConnector): StorageConnector {
  return {
    ...countingReads(inner),
    async read(path, options) {
      const source = await inner.read(path, options);
      const reader = source.getReader();
      return new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
    },
  };
}

Deno.test("a HASH that reads the file runs beside the control loop: STAT shows it, ABOR stops it", async () => {
  const memory = new MemoryStorage();
  const bytes = randomBytes(4 * 1024 * 1024);
  await memory.write("/big.bin", new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()); // no kept checksums
  await using ts = await startServer({ storage: slowReads(memory) });
  const client = await ts.client();
  await client.write("HASH big.bin\r\n");
  const status = await client.send("STAT");
  assert.equal(status.code, 213);
  assert.match(status.lines.join("\n"), /HASH \/big\.bin/);
  assert.match(status.lines.join("\n"), /\d+ bytes in/);
  await client.write("ABOR\r\n");
  assert.equal((await client.read()).code, 426);
  assert.equal((await client.read()).code, 226);

  // And a whole one completes with the right value, while NOOP waits its turn.
  await client.write("XSHA512 big.bin 0 1000000\r\nNOOP\r\n");
  const reply = await client.read();
  assert.deepEqual(
    [reply.code, reply.text],
    [250, hex("sha512", bytes.subarray(0, 1_000_000)).toUpperCase()],
  );
  assert.equal((await client.read()).code, 200);
});

Deno.test("the file connector keeps one record per stored file: replaced and removed files leave none", async () => {
  await using ts = await startServer();
  const records = async () => {
    const names: string[] = [];
    const folder = `${ts.root}/${CHECKSUMS_FOLDER}`;
    try {
      for await (const shard of Deno.readDir(folder)) {
        for await (const entry of Deno.readDir(`${folder}/${shard.name}`)) names.push(entry.name);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      return undefined; // no records folder at all
    }
    return names;
  };
  const client = await ts.client();
  await client.send("TYPE I");
  await client.upload("STOR a.bin", randomBytes(1000));
  await client.upload("STOR a.bin", randomBytes(1000));
  await client.upload("STOR b.bin", randomBytes(1000));
  assert.equal((await records())?.length, 2);
  await client.send("RNFR b.bin");
  assert.equal((await client.send("RNTO a.bin")).code, 250);
  assert.equal((await records())?.length, 1);
  const names = (await client.listing("NLST -a")).lines;
  assert.deepEqual(names, ["a.bin"]);
  assert.equal((await client.send(`SIZE ${CHECKSUMS_FOLDER}/00`)).code, 550);
  assert.equal((await client.send("DELE a.bin")).code, 250);
  assert.equal(await records(), undefined);
  assert.deepEqual([...Deno.readDirSync(ts.root)], []);
});
