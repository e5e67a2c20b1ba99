/**
 * npm basic-ftp in the test process against a real server: login, listings,
 * transfers (basic-ftp is passive only, EPSV), folders, renames, awkward
 * names, the root jail, and ten sessions at once.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { Client, FTPError } from "basic-ftp";
import { randomBytes, sha256, startServer, type TestServer } from "../helpers.ts";
import { exists, outsideFile, plantEscapes, putFile, tempDir } from "./_clients.ts";

/** A logged-in basic-ftp client; closed on dispose. */
async function connect(ts: TestServer, user = "test"): Promise<Client & Disposable> {
  const client = new Client(20_000);
  await client.access({ host: "127.0.0.1", port: ts.addr.port, user, password: "secret" });
  return Object.assign(client, { [Symbol.dispose]: () => client.close() });
}

/** Upload bytes from memory. */
async function upload(client: Client, path: string, data: Uint8Array) {
  return await client.uploadFrom(Readable.from([Buffer.from(data)]), path);
}

/** Download into memory. */
async function download(client: Client, path: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await client.downloadTo(sink, path);
  return new Uint8Array(Buffer.concat(chunks));
}

/** The FTP code a basic-ftp call failed with. */
async function failureCode(action: () => Promise<unknown>): Promise<number> {
  try {
    await action();
  } catch (error) {
    if (error instanceof FTPError) return error.code;
    throw error;
  }
  throw new Error("Expected the call to fail");
}

async function tree(ts: TestServer): Promise<void> {
  await putFile(ts, "a.txt", "alpha\n");
  await putFile(ts, ".hidden", "secret dot file\n");
  await putFile(ts, "sub/b.txt", "bravo!\n");
  await putFile(ts, "sub/.dot", "dot\n");
  await Deno.mkdir(join(ts.root, "sub/deeper"));
}

Deno.test("basic-ftp logs in, reads PWD and FEAT, and is refused for root with 530", async () => {
  await using ts = await startServer();
  using client = await connect(ts);
  assert.equal(await client.pwd(), "/");
  const features = await client.features();
  assert.ok(features.has("SIZE"));
  assert.ok(features.has("EPSV"));

  const refused = new Client(20_000);
  try {
    const code = await failureCode(() =>
      refused.access({ host: "127.0.0.1", port: ts.addr.port, user: "root", password: "x" })
    );
    assert.equal(code, 530);
  } finally {
    refused.close();
  }
});

Deno.test("basic-ftp lists the root and sub folders with MLSD: types, sizes and times", async () => {
  await using ts = await startServer();
  await tree(ts);
  using client = await connect(ts);
  const root = await client.list();
  const byName = new Map(root.map((entry) => [entry.name, entry]));
  // MLSD lists dotfiles too.
  assert.deepEqual([...byName.keys()].sort(), [".hidden", "a.txt", "sub"]);
  assert.ok(byName.get("sub")!.isDirectory);
  assert.ok(byName.get("a.txt")!.isFile);
  assert.equal(byName.get("a.txt")!.size, 6);
  assert.equal(byName.get(".hidden")!.size, 16);

  const sub = await client.list("sub");
  assert.deepEqual(sub.map((entry) => entry.name).sort(), [".dot", "b.txt", "deeper"]);
  assert.equal(sub.find((entry) => entry.name === "b.txt")!.size, 7);

  // With MLSD on offer basic-ftp lists with it: exact UTC times, and MLSD of a file is 501.
  assert.ok((await client.features()).has("MLST"));
  const stat = await Deno.stat(join(ts.root, "sub/b.txt"));
  const b = sub.find((entry) => entry.name === "b.txt")!;
  assert.equal(b.modifiedAt?.getTime(), Math.floor(stat.mtime!.getTime() / 1000) * 1000);
  assert.equal(await failureCode(() => client.list("sub/b.txt")), 501);

  await client.cd("sub/deeper");
  assert.deepEqual(await client.list(), []);
  assert.deepEqual((await client.list("..")).map((entry) => entry.name).sort(), [
    ".dot",
    "b.txt",
    "deeper",
  ]);
  assert.equal(await failureCode(() => client.list("/nowhere")), 550);
});

Deno.test("basic-ftp lists with LIST -a when told to, parsing the ls -l lines", async () => {
  await using ts = await startServer();
  await tree(ts);
  using client = await connect(ts);
  client.availableListCommands = ["LIST -a"];
  const root = await client.list();
  assert.deepEqual(root.map((entry) => [entry.name, entry.isDirectory, entry.size]).sort(), [
    [".hidden", false, 16],
    ["a.txt", false, 6],
    ["sub", true, 0],
  ]);
  const sub = await client.list("/sub/");
  assert.deepEqual(sub.map((entry) => entry.name).sort(), [".dot", "b.txt", "deeper"]);
  const file = await client.list("sub/b.txt");
  assert.deepEqual(file.map((entry) => [entry.name, entry.size]), [["b.txt", 7]]);

  client.availableListCommands = ["LIST"];
  assert.deepEqual((await client.list("sub")).map((entry) => entry.name).sort(), [
    "b.txt",
    "deeper",
  ]);
});

Deno.test("basic-ftp uploads and downloads 3 MiB and an empty file byte-exactly", async () => {
  await using ts = await startServer();
  using client = await connect(ts);
  const big = randomBytes(3 * 1024 * 1024);
  const uploaded = await upload(client, "big.bin", big);
  assert.equal(uploaded.code, 226);
  assert.equal(await sha256(await Deno.readFile(join(ts.root, "big.bin"))), await sha256(big));
  assert.equal(await client.size("big.bin"), big.length);
  assert.equal(await sha256(await download(client, "big.bin")), await sha256(big));
  const modified = await client.lastMod("big.bin");
  assert.ok(Math.abs(modified.getTime() - Date.now()) < 60_000, String(modified));

  await upload(client, "empty.bin", new Uint8Array());
  assert.equal((await Deno.readFile(join(ts.root, "empty.bin"))).length, 0);
  assert.equal(await client.size("empty.bin"), 0);
  assert.equal((await download(client, "empty.bin")).length, 0);

  // Overwriting replaces the whole content.
  await upload(client, "big.bin", new TextEncoder().encode("short"));
  assert.equal(await Deno.readTextFile(join(ts.root, "big.bin")), "short");
  await client.appendFrom(Readable.from([Buffer.from(" and more")]), "big.bin");
  assert.equal(await Deno.readTextFile(join(ts.root, "big.bin")), "short and more");
});

Deno.test("basic-ftp makes, enters and removes folders, renames and deletes files", async () => {
  await using ts = await startServer();
  using client = await connect(ts);
  await client.ensureDir("one/two/three");
  assert.equal(await client.pwd(), "/one/two/three");
  assert.ok((await Deno.stat(join(ts.root, "one/two/three"))).isDirectory);
  await upload(client, "f.txt", new TextEncoder().encode("in three"));
  await client.cdup();
  assert.equal(await client.pwd(), "/one/two");
  await client.cd("/");

  await client.rename("one/two/three/f.txt", "one/g.txt");
  assert.equal(await Deno.readTextFile(join(ts.root, "one/g.txt")), "in three");
  assert.equal(await failureCode(() => client.rename("one/two/three/f.txt", "x")), 550);
  await client.rename("one/two", "two-moved");
  assert.ok((await Deno.stat(join(ts.root, "two-moved/three"))).isDirectory);

  await client.remove("one/g.txt");
  assert.equal(await exists(join(ts.root, "one/g.txt")), false);
  assert.equal(await failureCode(() => client.remove("one/g.txt")), 550);
  assert.equal(await failureCode(() => client.removeEmptyDir("two-moved")), 550);

  await putFile(ts, "two-moved/three/deep.bin", randomBytes(1000));
  await client.removeDir("two-moved");
  await client.removeEmptyDir("one");
  assert.deepEqual([...Deno.readDirSync(ts.root)], []);
  assert.equal(await client.pwd(), "/");
});

Deno.test("basic-ftp uploads and downloads a nested tree with uploadFromDir/downloadToDir", async () => {
  await using ts = await startServer();
  await using local = await tempDir();
  const files: Record<string, Uint8Array> = {
    "top.bin": randomBytes(70_000),
    "a/one.bin": randomBytes(1),
    "a/b/two.bin": randomBytes(200_000),
    "a/b/c/empty.bin": new Uint8Array(),
  };
  for (const [path, data] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(local.path, "src", path)), { recursive: true });
    await Deno.writeFile(join(local.path, "src", path), data);
  }
  using client = await connect(ts);
  await client.uploadFromDir(join(local.path, "src"), "tree");
  await client.downloadToDir(join(local.path, "back"), "/tree");
  for (const [path, data] of Object.entries(files)) {
    const expected = await sha256(data);
    assert.equal(await sha256(await Deno.readFile(join(ts.root, "tree", path))), expected, path);
    assert.equal(await sha256(await Deno.readFile(join(local.path, "back", path))), expected, path);
  }
});

Deno.test("basic-ftp handles names with spaces, double quotes and non-ASCII letters", async () => {
  await using ts = await startServer();
  using client = await connect(ts);
  const data = randomBytes(100_000);
  await client.ensureDir("dir with space");
  await client.cd("/");
  await upload(client, 'dir with space/"quoted" é.txt', data);
  assert.equal(
    await sha256(await Deno.readFile(join(ts.root, "dir with space", '"quoted" é.txt'))),
    await sha256(data),
  );
  const listed = await client.list("dir with space");
  assert.deepEqual(listed.map((entry) => [entry.name, entry.size]), [
    ['"quoted" é.txt', data.length],
  ]);
  assert.equal(await client.size('dir with space/"quoted" é.txt'), data.length);
  await client.rename('dir with space/"quoted" é.txt', "dir with space/ünï cødé ✓.bin");
  assert.equal(
    await sha256(await download(client, "dir with space/ünï cødé ✓.bin")),
    await sha256(data),
  );
  await client.cd("dir with space");
  // basic-ftp's own PWD parser does not undo doubled quotes, so quotes stay out of the folder.
  assert.equal(await client.pwd(), "/dir with space");
  await client.remove("ünï cødé ✓.bin");
  await client.cd("/");
  await client.removeEmptyDir("dir with space");
  assert.deepEqual([...Deno.readDirSync(ts.root)], []);
});

Deno.test("basic-ftp cannot leave the root with ../ paths or through symlinks", async () => {
  await using ts = await startServer();
  await using outside = await outsideFile(ts);
  await plantEscapes(ts, outside, { name: "inside.txt", content: "inside\n" });
  using client = await connect(ts);

  assert.equal(await failureCode(() => download(client, "../../etc/passwd")), 550);
  assert.equal(await failureCode(() => download(client, `../${outside.name}`)), 550);
  assert.equal(await failureCode(() => download(client, "escape/passwd")), 550);
  assert.equal(await failureCode(() => download(client, "leak.txt")), 550);
  assert.equal(await failureCode(() => client.list("escape")), 550);
  assert.equal(await failureCode(() => client.cd("escape")), 550);
  assert.equal(await failureCode(() => client.size("escape/passwd")), 550);

  await client.cd("../..");
  assert.equal(await client.pwd(), "/");
  assert.deepEqual((await client.list("../..")).map((entry) => entry.name), ["inside.txt"]);

  const name = `exftp-escape-${crypto.randomUUID()}`;
  await upload(client, `../../${name}`, new TextEncoder().encode("payload"));
  assert.equal(await Deno.readTextFile(join(ts.root, name)), "payload");
  assert.equal(await exists(join(dirname(ts.root), name)), false);
  const overLink = await failureCode(() => upload(client, "leak.txt", new Uint8Array(3)));
  assert.ok(overLink >= 550 && overLink <= 553, String(overLink));
  const intoLink = await failureCode(() => upload(client, `escape/${name}`, new Uint8Array(3)));
  assert.ok(intoLink >= 550 && intoLink <= 553, String(intoLink));
  assert.equal(await exists(join("/etc", name)), false);
  assert.equal(await Deno.readTextFile(outside.path), outside.content);
});

Deno.test("basic-ftp runs ten sessions at once, each uploading and downloading its own data", async () => {
  await using ts = await startServer();
  const payloads = Array.from({ length: 10 }, (_, i) => randomBytes(512 * 1024 + i));
  const clients: (Client & Disposable)[] = [];
  try {
    // All ten are logged in before any transfer starts, so the transfers truly overlap.
    const connected = await Promise.allSettled(payloads.map((_, i) => connect(ts, `user${i}`)));
    for (const result of connected) if (result.status === "fulfilled") clients.push(result.value);
    for (const result of connected) if (result.status === "rejected") throw result.reason;
    assert.equal(ts.server.sessionCount, 10);
    const results = await Promise.all(clients.map(async (client, i) => {
      await client.ensureDir(`session-${i}`);
      await upload(client, `data-${i}.bin`, payloads[i]);
      const back = await download(client, `data-${i}.bin`);
      const listed = await client.list();
      assert.deepEqual(listed.map((entry) => entry.name), [`data-${i}.bin`]);
      return await sha256(back);
    }));
    for (const [i, back] of results.entries()) {
      const sent = await sha256(payloads[i]);
      assert.equal(back, sent, `session ${i}`);
      const stored = await Deno.readFile(join(ts.root, `session-${i}`, `data-${i}.bin`));
      assert.equal(await sha256(stored), sent, `stored ${i}`);
    }
  } finally {
    for (const client of clients) client.close();
  }
});
