/**
 * The s3 connector through the FTP server, over a real s3rver, with a raw
 * client: what a user sees. Every request the server makes is counted, so the
 * suite can tell that no multipart upload was left behind.
 */

import assert from "node:assert/strict";
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3Storage } from "../../src/storage/s3/mod.ts";
import { randomBytes, sha256, startServer, type TestServer, waitFor } from "../helpers.ts";
import { type S3rver, s3rverClient, s3rverUnavailable, startS3rver } from "../s3rver.ts";

const unavailable = s3rverUnavailable();
const text = (s: string) => new TextEncoder().encode(s);
const MIB = 1024 * 1024;

/**
 * An SDK client that counts the commands it sends, and tracks the multipart
 * uploads created and not yet completed or aborted. Abort attempts count
 * (s3rver answers every abort MethodNotAllowed, and an abort may be retried,
 * so the number of commands alone can't tell).
 */
function countingClient(
  s3: S3rver,
): { client: S3Client; counts: Map<string, number>; openUploads: Set<string> } {
  const client = s3rverClient(s3);
  const counts = new Map<string, number>();
  const openUploads = new Set<string>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName!;
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (
        name === "CompleteMultipartUploadCommand" || name === "AbortMultipartUploadCommand"
      ) {
        openUploads.delete((args.input as { UploadId: string }).UploadId);
      }
      const result = await next(args);
      if (name === "CreateMultipartUploadCommand") {
        openUploads.add((result.output as { UploadId: string }).UploadId);
      }
      return result;
    },
    { step: "initialize", name: "exftpCountCommands" },
  );
  return { client, counts, openUploads };
}

async function keysUnder(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

Deno.test({
  name: `FTP over the s3 connector (s3rver)${unavailable ? ` (ignored: ${unavailable})` : ""}`,
  ignore: unavailable !== undefined,
  async fn(t) {
    await using s3 = await startS3rver();
    const { client: sdk, counts, openUploads } = countingClient(s3);
    const prefix = "ftp-root";
    const storage = new S3Storage({ bucket: s3.bucket, prefix, client: sdk, partSize: 5 * MIB });
    let ts: TestServer | undefined;
    try {
      ts = await startServer({ storage });
      const server = ts;
      const count = (name: string) => counts.get(`${name}Command`) ?? 0;

      await t.step("small, empty and 40 MiB files go up and come back byte-exact", async () => {
        const client = await server.client();
        await client.send("TYPE I");
        const files: [string, Uint8Array][] = [
          ["small.bin", randomBytes(1000)],
          ["empty.bin", new Uint8Array()],
          ["big.bin", randomBytes(40 * MIB + 7)],
        ];
        for (const [name, data] of files) {
          const stored = await client.upload(`STOR ${name}`, data);
          assert.deepEqual(stored.map((r) => r.code), [150, 226], `STOR ${name}`);
          // 226 came: the object must be complete in the bucket already.
          const info = await storage.stat(`/${name}`);
          assert.equal(info.size, data.length, `stored size of ${name}`);
          assert.equal((await client.send(`SIZE ${name}`)).text, String(data.length));
          const { data: got, replies } = await client.download(`RETR ${name}`);
          assert.deepEqual(replies.map((r) => r.code), [150, 226], `RETR ${name}`);
          assert.equal(got.length, data.length);
          assert.equal(await sha256(got), await sha256(data), `content of ${name}`);
        }
        assert.ok(count("UploadPart") >= 9, "the 40 MiB file went up in 5 MiB parts");
        assert.deepEqual(
          (await keysUnder(sdk, s3.bucket, `${prefix}/`)).sort(),
          ["ftp-root/big.bin", "ftp-root/empty.bin", "ftp-root/small.bin"],
          "keys in the bucket",
        );
        const mdtm = await client.send("MDTM big.bin");
        assert.equal(mdtm.code, 213);
        assert.match(mdtm.text, /^\d{14}$/);
      });

      await t.step("REST + RETR resumes a download at the offset (a ranged GET)", async () => {
        const client = await server.client();
        await client.send("TYPE I");
        const data = randomBytes(7 * MIB + 3);
        await client.upload("STOR resume.bin", data);
        for (const offset of [1, 5 * MIB + 1, data.length - 1, data.length]) {
          assert.equal((await client.send(`REST ${offset}`)).code, 350);
          const { data: got, replies } = await client.download("RETR resume.bin");
          assert.deepEqual(replies.map((r) => r.code), [150, 226], `RETR from ${offset}`);
          assert.equal(await sha256(got), await sha256(data.subarray(offset)), `from ${offset}`);
        }
      });

      await t.step("REST + STOR and APPE resume an upload without losing bytes", async () => {
        const client = await server.client();
        await client.send("TYPE I");
        const data = randomBytes(9 * MIB + 11);
        await client.upload("STOR partial.bin", data.subarray(0, 6 * MIB));
        assert.equal((await client.send(`REST ${6 * MIB}`)).code, 350);
        const resumed = await client.upload("STOR partial.bin", data.subarray(6 * MIB, 8 * MIB));
        assert.deepEqual(resumed.map((r) => r.code), [150, 226]);
        const appended = await client.upload("APPE partial.bin", data.subarray(8 * MIB));
        assert.deepEqual(appended.map((r) => r.code), [150, 226]);
        const { data: got } = await client.download("RETR partial.bin");
        assert.equal(await sha256(got), await sha256(data), "the resumed file");
      });

      await t.step("folders made in one session are there in the next", async () => {
        const first = await server.client();
        assert.equal((await first.send("MKD shared")).code, 257);
        assert.equal((await first.send("MKD shared/empty")).code, 257);
        assert.equal((await first.send("MKD shared")).code, 550, "MKD of an existing folder");
        first.close();
        const second = await server.client();
        assert.equal((await second.send("CWD /shared")).code, 250);
        const { lines } = await second.listing("MLSD");
        assert.equal(lines.length, 1);
        assert.match(lines[0], /type=dir;.* empty$/);
        assert.equal((await second.send("CWD empty")).code, 250);
        assert.deepEqual((await second.listing("NLST")).lines, [], "an empty folder lists empty");
        assert.ok(
          (await keysUnder(sdk, s3.bucket, `${prefix}/shared/`)).includes(
            `${prefix}/shared/empty/`,
          ),
          "the folder is a marker object",
        );
      });

      await t.step("paths match keys exactly, never as prefixes", async () => {
        const client = await server.client();
        await client.upload("STOR dir.txt", text("file"));
        assert.equal((await client.send("SIZE dir")).code, 550, "SIZE /dir beside /dir.txt");
        assert.equal((await client.send("CWD dir")).code, 550, "CWD /dir beside /dir.txt");
        assert.equal((await client.send("MKD a")).code, 257);
        await client.upload("STOR ab.txt", text("ab"));
        assert.equal((await client.send("CWD a")).code, 250);
        assert.deepEqual((await client.listing("NLST")).lines, [], "/a does not hold ab.txt");
        assert.equal((await client.send("CWD /ab")).code, 550, "CWD /ab beside /ab.txt");
        assert.equal((await client.send("SIZE /a")).code, 550, "SIZE of a folder");
        assert.equal((await client.send("RETR /dir")).code, 550);
      });

      await t.step(
        "a folder of 1,100 entries lists completely by NLST, MLSD and LIST",
        async () => {
          const names = Array.from(
            { length: 1100 },
            (_, i) => `f-${String(i).padStart(4, "0")}.txt`,
          );
          for (let i = 0; i < names.length; i += 50) {
            await Promise.all(
              names.slice(i, i + 50).map((name) =>
                sdk.send(
                  new PutObjectCommand({
                    Bucket: s3.bucket,
                    Key: `${prefix}/crowd/${name}`,
                    Body: text(name),
                  }),
                )
              ),
            );
          }
          const before = count("ListObjectsV2");
          const client = await server.client();
          const nlst = await client.listing("NLST crowd");
          assert.deepEqual(
            nlst.replies.map((r) => r.code),
            [150, 226],
          );
          assert.deepEqual(nlst.lines, names.map((name) => `crowd/${name}`), "NLST: every name");
          const mlsd = await client.listing("MLSD crowd");
          assert.equal(mlsd.lines.length, 1100, "MLSD: every entry");
          for (const [i, line] of mlsd.lines.entries()) {
            assert.match(line, new RegExp(`type=file;.*size=10;.* ${names[i]}$`));
          }
          const list = await client.listing("LIST crowd");
          assert.equal(list.lines.length, 1100, "LIST: every entry");
          assert.ok(count("ListObjectsV2") - before >= 6, "listed in pages, not with a HEAD each");
          assert.equal(count("HeadObject") > 0, true);
        },
      );

      await t.step("files and folders rename (copy + delete), across folders too", async () => {
        const client = await server.client();
        await client.send("MKD tree");
        await client.send("MKD tree/sub");
        await client.upload("STOR tree/one.txt", text("one"));
        await client.upload("STOR tree/sub/two.txt", text("two"));
        await client.send("MKD elsewhere");
        assert.equal((await client.send("RNFR tree/one.txt")).code, 350);
        assert.equal((await client.send("RNTO elsewhere/uno.txt")).code, 250);
        assert.equal((await client.send("SIZE tree/one.txt")).code, 550);
        assert.equal((await client.send("SIZE elsewhere/uno.txt")).text, "3");
        assert.equal((await client.send("RNFR tree")).code, 350);
        assert.equal((await client.send("RNTO elsewhere/moved")).code, 250);
        assert.equal((await client.send("CWD /tree")).code, 550, "the old folder is gone");
        assert.deepEqual(
          (await client.listing("NLST /elsewhere/moved")).lines.sort(),
          ["/elsewhere/moved/sub"],
        );
        const { data } = await client.download("RETR /elsewhere/moved/sub/two.txt");
        assert.equal(new TextDecoder().decode(data), "two");
        assert.equal((await client.send("RNFR /nothing")).code, 550);
      });

      await t.step("RMD removes empty folders only; DELE removes files only", async () => {
        const client = await server.client();
        await client.send("MKD full");
        await client.upload("STOR full/x.txt", text("x"));
        assert.equal((await client.send("RMD full")).code, 550, "RMD of a non-empty folder");
        assert.equal((await client.send("DELE full")).code, 550, "DELE of a folder");
        assert.equal((await client.send("DELE full/x.txt")).code, 250);
        assert.equal((await client.send("CWD full")).code, 250, "emptied folder persists");
        assert.equal((await client.send("CWD /")).code, 250);
        assert.equal((await client.send("RMD full")).code, 250, "RMD of an empty folder");
        assert.equal((await client.send("RMD full")).code, 550, "RMD of a missing folder");
        assert.equal((await client.send("CWD full")).code, 550);
      });

      await t.step(
        "an upload cut off mid-way stores nothing and aborts its multipart upload",
        async () => {
          const aborted = count("AbortMultipartUpload");
          const client = await server.client();
          await client.send("TYPE I");
          await client.upload("STOR cut.bin", text("the previous version"));
          const data = await client.passive();
          assert.equal((await client.send("STOR cut.bin")).code, 150);
          const chunk = randomBytes(MIB);
          for (let i = 0; i < 12; i++) {
            let offset = 0;
            while (offset < chunk.length) offset += await data.write(chunk.subarray(offset));
          }
          client.close(); // the control connection goes: the upload must not be stored
          await waitFor(() => count("AbortMultipartUpload") > aborted, 10_000, "the abort");
          data.close();
          const info = await storage.stat("/cut.bin");
          assert.equal(info.size, "the previous version".length, "the previous file is intact");
        },
      );

      await t.step("SITE CHMOD answers 502 and is not offered by SITE HELP", async () => {
        const client = await server.client();
        await client.upload("STOR chmod.txt", text("x"));
        const chmod = await client.send("SITE CHMOD 644 chmod.txt");
        assert.equal(chmod.code, 502, chmod.text);
        const help = await client.send("SITE HELP");
        assert.equal(help.code, 214);
        assert.ok(!help.lines.some((line) => line.includes("CHMOD")), help.lines.join("\n"));
        assert.equal((await client.send("SITE NOSUCH")).code, 504);
      });

      await t.step(
        "a folder of more than 1,000 objects (several listing pages) renames whole",
        async () => {
          // One ListObjectsV2 page holds at most 1,000 keys: a move that read one
          // page would leave the rest behind.
          const names = Array.from({ length: 1003 }, (_, i) => `f${String(i).padStart(4, "0")}`);
          const queue = [...names];
          await Promise.all(Array.from({ length: 24 }, async () => {
            for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
              await sdk.send(
                new PutObjectCommand({
                  Bucket: s3.bucket,
                  Key: `${prefix}/many/${name}`,
                  Body: name,
                }),
              );
            }
          }));
          const lists = count("ListObjectsV2");
          const client = await server.client();
          assert.equal((await client.send("RNFR many")).code, 350);
          const renamed = await client.send("RNTO moved");
          assert.equal(renamed.code, 250, renamed.text);
          assert.ok(count("ListObjectsV2") - lists >= 2, "the move read more than one page");
          const moved = await keysUnder(sdk, s3.bucket, `${prefix}/moved/`);
          assert.deepEqual(moved.sort(), names.map((name) => `${prefix}/moved/${name}`));
          assert.deepEqual(await keysUnder(sdk, s3.bucket, `${prefix}/many/`), []);
        },
      );

      await t.step("no multipart upload was left behind", () => {
        assert.ok(count("CreateMultipartUpload") > 0, "multipart uploads were made");
        assert.deepEqual(
          [...openUploads],
          [],
          `every multipart upload completed or aborted: ${JSON.stringify([...counts])}`,
        );
      });
    } finally {
      await ts?.[Symbol.asyncDispose]();
      sdk.destroy();
    }
  },
});
