/**
 * HASH and the X-commands through real clients (Python's ftplib `sendcmd`,
 * lftp `quote`, curl `-Q`) on the file, memory and S3 (s3rver) connectors,
 * checked against sha256sum, sha512sum, sha1sum, md5sum and zlib's CRC-32 of
 * the same random bytes. A fresh upload's kept checksums are answered without
 * a single read of the file.
 */

import assert from "node:assert/strict";
import { FileStorage, MemoryStorage } from "../../mod.ts";
import type { StorageConnector } from "../../src/storage/types.ts";
import type { TransferEventDetail } from "../../src/events.ts";
import { hasCommand, randomBytes, startServer } from "../helpers.ts";
import { run } from "../integration/_clients.ts";
import { s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { countingReads, ftplib, localFile, referenceDigests } from "./_fixtures.ts";

const ignore = !hasCommand("python3") || !hasCommand("sha256sum");
const s3Missing = s3rverUnavailable();
const MIB = 1024 * 1024;
/** What these uploads keep (`uploadChecksums`) and what is read on demand. */
const KEPT = ["SHA-256", "CRC32"] as const;
const KEPT_X = { XSHA256: "SHA-256", XCRC: "CRC32" } as const;
const READ = ["SHA-512", "SHA-1", "MD5"] as const;
const READ_X = { XSHA512: "SHA-512", XSHA1: "SHA-1", XMD5: "MD5" } as const;
const X_COMMANDS = { ...KEPT_X, ...READ_X };

/** Upload, then every checksum of it through ftplib, counting the connector's reads. */
async function checkConnector(storage: StorageConnector, size: number): Promise<void> {
  const counted = countingReads(storage);
  await using ts = await startServer({ storage: counted, uploadChecksums: KEPT });
  const events: TransferEventDetail[] = [];
  ts.server.addEventListener("transfer-complete", (event) => events.push(event.detail));
  const bytes = randomBytes(size);
  await using local = await localFile(bytes);
  const expected = await referenceDigests(local.path);

  const kept = await ftplib(
    ts.addr.port,
    local.path,
    `
with open(LOCAL, "rb") as f: out["stor"] = ftp.storbinary("STOR up.bin", f)
for alg in ${JSON.stringify(KEPT)}:
    out["opts " + alg] = reply("OPTS HASH " + alg)
    out["hash " + alg] = reply("HASH up.bin")
for cmd in ${JSON.stringify(Object.keys(KEPT_X))}:
    out[cmd] = reply(cmd + " up.bin")
`,
  );
  assert.match(kept.stor, /^226 /);
  for (const algorithm of KEPT) {
    assert.equal(kept[`opts ${algorithm}`], `200 ${algorithm}`);
    assert.equal(
      kept[`hash ${algorithm}`],
      `213 ${algorithm} 0-${size - 1} ${expected[algorithm]} up.bin`,
    );
  }
  for (const [command, algorithm] of Object.entries(KEPT_X)) {
    assert.equal(kept[command], `250 ${expected[algorithm].toUpperCase()}`);
  }
  assert.equal(counted.reads, 0, "kept checksums are answered without reading the file");
  const upload = events.find((event) => event.command === "STOR");
  assert.deepEqual(upload?.checksums, { "SHA-256": expected["SHA-256"], CRC32: expected.CRC32 });

  // The other algorithms are not kept (see uploadChecksums), ranges never: the file is read.
  const start = 1000;
  const end = size - 17;
  await using part = await localFile(bytes.subarray(start, end));
  const partExpected = await referenceDigests(part.path);
  const read = await ftplib(
    ts.addr.port,
    local.path,
    `
for alg in ${JSON.stringify(READ)}:
    out["opts " + alg] = reply("OPTS HASH " + alg)
    out["hash " + alg] = reply("HASH /up.bin")
for cmd in ${JSON.stringify(Object.keys(READ_X))}:
    out["whole " + cmd] = reply(cmd + " up.bin")
for cmd in ${JSON.stringify(Object.keys(X_COMMANDS))}:
    out[cmd] = reply(cmd + " up.bin ${start} ${end}")
`,
  );
  for (const algorithm of READ) {
    assert.equal(read[`opts ${algorithm}`], `200 ${algorithm}`);
    assert.equal(
      read[`hash ${algorithm}`],
      `213 ${algorithm} 0-${size - 1} ${expected[algorithm]} /up.bin`,
    );
  }
  for (const [command, algorithm] of Object.entries(READ_X)) {
    assert.equal(read[`whole ${command}`], `250 ${expected[algorithm].toUpperCase()}`);
  }
  for (const [command, algorithm] of Object.entries(X_COMMANDS)) {
    assert.equal(read[command], `250 ${partExpected[algorithm].toUpperCase()}`, command);
  }
  assert.equal(counted.reads, 2 * READ.length + Object.keys(X_COMMANDS).length);
}

Deno.test({
  name:
    "file connector: HASH and X-commands match sha*sum/md5sum/crc32; a fresh upload reads nothing",
  ignore,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "exftp-hash-root-" });
    try {
      await checkConnector(new FileStorage({ root }), 3 * MIB + 7);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "memory connector: HASH and X-commands match sha*sum/md5sum/crc32; a fresh upload reads nothing",
  ignore,
  fn: () => checkConnector(new MemoryStorage(), 2 * MIB + 1),
});

Deno.test({
  name: "S3 connector (s3rver): kept in object metadata, for a single PUT and a multipart upload",
  ignore: ignore || s3Missing !== undefined,
  async fn(t) {
    await using s3 = await startS3rver();
    await t.step("single PutObject", async () => {
      using storage = s3.freshStorage({ partSize: 5 * MIB });
      await checkConnector(storage, 1 * MIB + 5);
    });
    await t.step("multipart upload (metadata attached by a conditional self-copy)", async () => {
      using storage = s3.freshStorage({ partSize: 5 * MIB });
      await checkConnector(storage, 11 * MIB + 3);
    });
  },
});

Deno.test({
  name:
    "by default an upload keeps CRC32 only: XCRC reads nothing, HASH SHA-256 reads the file once and is right",
  ignore,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "exftp-hash-root-" });
    try {
      const counted = countingReads(new FileStorage({ root }));
      await using ts = await startServer({ storage: counted });
      const events: TransferEventDetail[] = [];
      ts.server.addEventListener("transfer-complete", (event) => events.push(event.detail));
      const size = 1 * MIB + 3;
      await using local = await localFile(randomBytes(size));
      const expected = await referenceDigests(local.path);
      const crc = await ftplib(
        ts.addr.port,
        local.path,
        `
with open(LOCAL, "rb") as f: out["stor"] = ftp.storbinary("STOR up.bin", f)
out["xcrc"] = reply("XCRC up.bin")
out["opts"] = reply("OPTS HASH CRC32")
out["hash"] = reply("HASH up.bin")
`,
      );
      assert.match(crc.stor, /^226 /);
      assert.equal(crc.xcrc, `250 ${expected.CRC32.toUpperCase()}`);
      assert.equal(crc.hash, `213 CRC32 0-${size - 1} ${expected.CRC32} up.bin`);
      assert.equal(counted.reads, 0, "the kept CRC32 is answered without reading the file");
      assert.deepEqual(events.find((e) => e.command === "STOR")?.checksums, {
        CRC32: expected.CRC32,
      });
      const sha = await ftplib(ts.addr.port, local.path, `out["hash"] = reply("HASH up.bin")`);
      assert.equal(sha.hash, `213 SHA-256 0-${size - 1} ${expected["SHA-256"]} up.bin`);
      assert.equal(counted.reads, 1, "SHA-256 is not kept by default: HASH reads the file once");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "upload_checksums: [] keeps none: the upload computes nothing, XCRC reads the file and is right",
  ignore,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "exftp-hash-root-" });
    try {
      const counted = countingReads(new FileStorage({ root }));
      await using ts = await startServer({ storage: counted, uploadChecksums: [] });
      const events: TransferEventDetail[] = [];
      ts.server.addEventListener("transfer-complete", (event) => events.push(event.detail));
      const size = 300_007;
      await using local = await localFile(randomBytes(size));
      const expected = await referenceDigests(local.path);
      const out = await ftplib(
        ts.addr.port,
        local.path,
        `
with open(LOCAL, "rb") as f: out["stor"] = ftp.storbinary("STOR up.bin", f)
out["xcrc"] = reply("XCRC up.bin")
`,
      );
      assert.match(out.stor, /^226 /);
      assert.equal(out.xcrc, `250 ${expected.CRC32.toUpperCase()}`);
      assert.equal(counted.reads, 1, "nothing kept: XCRC reads the file");
      assert.equal(events.find((e) => e.command === "STOR")?.checksums, undefined);
      const records = [...Deno.readDirSync(root)].map((entry) => entry.name);
      assert.deepEqual(records, ["up.bin"], "no checksum record is written");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "lftp quote and curl -Q ask HASH and XCRC like any other command",
  ignore: ignore || !hasCommand("lftp") || !hasCommand("curl"),
  async fn() {
    await using ts = await startServer();
    const bytes = randomBytes(300_001);
    await using local = await localFile(bytes);
    const expected = await referenceDigests(local.path);
    const url = `ftp://127.0.0.1:${ts.addr.port}`;
    const lftp = await run("lftp", [
      "-c",
      `set cmd:fail-exit yes; open -u test,secret ${url}; put ${local.path} -o up.bin; ` +
      `quote OPTS HASH MD5; quote HASH up.bin; quote XCRC up.bin 0 1000`,
    ]);
    assert.ok(lftp.success, lftp.stderr);
    await using first = await localFile(bytes.subarray(0, 1000));
    const firstCrc = (await referenceDigests(first.path)).CRC32.toUpperCase();
    assert.match(lftp.stdout, new RegExp(`213 MD5 0-300000 ${expected.MD5} up.bin`));
    assert.match(lftp.stdout, new RegExp(`250 ${firstCrc}`));

    const curl = await run("curl", [
      "-sS",
      "-v",
      "-u",
      "test:secret",
      "-Q",
      "HASH up.bin",
      "-Q",
      "XSHA1 up.bin",
      `${url}/up.bin`,
      "-o",
      "/dev/null",
    ]);
    assert.ok(curl.success, curl.stderr);
    assert.match(curl.stderr, new RegExp(`< 213 SHA-256 0-300000 ${expected["SHA-256"]} up.bin`));
    assert.match(curl.stderr, new RegExp(`< 250 ${expected["SHA-1"].toUpperCase()}`));
  },
});
