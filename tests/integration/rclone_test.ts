/**
 * rclone's FTP backend against a real server, configured on the command line
 * (`:ftp,host=…,port=…,user=…,pass=<obscured>:`) with no config file. rclone
 * only does passive mode (EPSV, or PASV with disable_epsv); it lists with
 * MLSD when offered, or LIST with disable_mlsd.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { hasCommand, randomBytes, sha256, startServer, type TestServer } from "../helpers.ts";
import {
  exists,
  lines,
  outsideFile,
  plantEscapes,
  putFile,
  run,
  runOk,
  type RunResult,
  tempDir,
} from "./_clients.ts";

const ignore = !hasCommand("rclone");

let obscured: Promise<string> | undefined;

/** The password `secret` as rclone wants it on the command line. */
function obscuredPassword(): Promise<string> {
  obscured ??= runOk("rclone", ["obscure", "secret"]).then((result) => result.stdout.trim());
  return obscured;
}

/** The on-the-fly remote for a test server, with extra backend options (`,k=v`). */
async function remote(ts: TestServer, path = "", options = ""): Promise<string> {
  const pass = await obscuredPassword();
  return `:ftp,host=127.0.0.1,port=${ts.addr.port},user=test,pass=${pass}${options}:${path}`;
}

/** Common flags: no config file, give up quickly instead of retrying for long. */
const FLAGS = ["--config", "/dev/null", "--retries", "1", "--low-level-retries", "1"];

function rclone(args: string[]): Promise<RunResult> {
  return run("rclone", [...FLAGS, ...args]);
}

function rcloneOk(args: string[]): Promise<RunResult> {
  return runOk("rclone", [...FLAGS, ...args]);
}

async function tree(ts: TestServer): Promise<void> {
  await putFile(ts, "a.txt", "alpha\n");
  await putFile(ts, ".hidden", "secret dot file\n");
  await putFile(ts, "sub/b.txt", "bravo!\n");
  await putFile(ts, "sub/deeper/c.bin", randomBytes(1234));
}

const LISTINGS = [
  { how: "MLSD over EPSV", options: "", hidden: true },
  { how: "LIST over EPSV", options: ",disable_mlsd=true", hidden: false },
  {
    how: "LIST -a over PASV",
    options: ",disable_mlsd=true,disable_epsv=true,force_list_hidden=true",
    hidden: true,
  },
  { how: "MLSD over PASV", options: ",disable_epsv=true", hidden: true },
];

for (const { how, options, hidden } of LISTINGS) {
  Deno.test({
    name: `rclone lists a tree with lsf and lsjson using ${how}`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await tree(ts);
      const all = await rcloneOk(["lsf", "-R", "--format", "ps", await remote(ts, "", options)]);
      const expected = [
        "a.txt;6",
        "sub/;-1",
        "sub/b.txt;7",
        "sub/deeper/;-1",
        "sub/deeper/c.bin;1234",
      ];
      if (hidden) expected.unshift(".hidden;16");
      assert.deepEqual(lines(all.stdout).sort(), expected.sort());

      const sub = await rcloneOk(["lsf", await remote(ts, "sub", options)]);
      assert.deepEqual(lines(sub.stdout).sort(), ["b.txt", "deeper/"]);

      const json = await rcloneOk(["lsjson", await remote(ts, "sub/deeper", options)]);
      const [entry, ...more] = JSON.parse(json.stdout);
      assert.deepEqual(more, []);
      assert.equal(entry.Name, "c.bin");
      assert.equal(entry.Size, 1234);
      assert.equal(entry.IsDir, false);
      const stat = await Deno.stat(join(ts.root, "sub/deeper/c.bin"));
      const skew = Math.abs(new Date(entry.ModTime).getTime() - stat.mtime!.getTime());
      assert.ok(skew < 61_000, `ModTime ${entry.ModTime} vs ${stat.mtime!.toISOString()}`);

      const missing = await rclone(["lsf", await remote(ts, "nowhere", options)]);
      assert.notEqual(missing.code, 0);
    },
  });
}

/** A local tree with big, empty, nested and awkwardly named files. */
async function makeTree(base: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>([
    ["big.bin", randomBytes(3 * 1024 * 1024)],
    ["empty.bin", new Uint8Array()],
    ["a/b/c/deep.bin", randomBytes(100_000)],
    ['dir with space/"quoted" é.txt', randomBytes(4321)],
    ["ünïcødé ✓/naïve.txt", new TextEncoder().encode("naïve\n")],
  ]);
  for (const [path, data] of files) {
    await Deno.mkdir(dirname(join(base, path)), { recursive: true });
    await Deno.writeFile(join(base, path), data);
  }
  return files;
}

for (const { how, options } of [LISTINGS[0], LISTINGS[2]]) {
  Deno.test({
    name: `rclone copies a tree up and back byte-exactly and check --download agrees (${how})`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await using local = await tempDir();
      const files = await makeTree(join(local.path, "src"));
      await rcloneOk(["copy", join(local.path, "src"), await remote(ts, "tree", options)]);
      for (const [path, data] of files) {
        const stored = await Deno.readFile(join(ts.root, "tree", path));
        assert.equal(await sha256(stored), await sha256(data), `uploaded ${path}`);
      }

      const check = await rcloneOk([
        "check",
        "--download",
        join(local.path, "src"),
        await remote(ts, "tree", options),
      ]);
      assert.match(check.stderr, /0 differences found/);
      assert.match(check.stderr, new RegExp(`${files.size} matching files`));

      await rcloneOk(["copy", await remote(ts, "tree", options), join(local.path, "back")]);
      for (const [path, data] of files) {
        const back = await Deno.readFile(join(local.path, "back", path));
        assert.equal(await sha256(back), await sha256(data), `downloaded ${path}`);
      }

      const cat = await rcloneOk(["cat", await remote(ts, "tree/ünïcødé ✓/naïve.txt", options)]);
      assert.equal(cat.stdout, "naïve\n");
    },
  });
}

Deno.test({
  name: "rclone keeps modification times, so a second copy transfers nothing",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    await makeTree(join(local.path, "src"));
    const past = new Date("2024-03-04T05:06:07Z");
    await Deno.utime(join(local.path, "src/a/b/c/deep.bin"), past, past);
    await rcloneOk(["copy", join(local.path, "src"), await remote(ts, "tree")]);
    const stored = await Deno.stat(join(ts.root, "tree/a/b/c/deep.bin"));
    assert.equal(stored.mtime?.toISOString(), past.toISOString());

    const again = await rcloneOk(["copy", "-v", join(local.path, "src"), await remote(ts, "tree")]);
    assert.doesNotMatch(again.stderr, /Copied/);
    assert.match(again.stderr, /Checks:\s+5 \/ 5/);
  },
});

Deno.test({
  name: "rclone copies forty files over parallel connections within the per-address limit",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 40; i++) {
      const data = randomBytes(20_000 + i * 1000);
      files.set(`f${i}.bin`, data);
      await Deno.writeFile(join(local.path, `f${i}.bin`), data);
    }
    let peak = 0;
    const watch = setInterval(() => peak = Math.max(peak, ts.server.sessionCount), 1);
    try {
      // rclone opens a connection per transfer and checker; keep them within the
      // server's default of 10 sessions per address (rclone's own advice:
      // concurrency = transfers + checkers + 1).
      await rcloneOk([
        "copy",
        "--transfers",
        "4",
        "--checkers",
        "4",
        local.path,
        await remote(ts, "many", ",concurrency=9"),
      ]);
    } finally {
      clearInterval(watch);
    }
    for (const [name, data] of files) {
      assert.equal(
        await sha256(await Deno.readFile(join(ts.root, "many", name))),
        await sha256(data),
      );
    }
    const check = await rcloneOk([
      "check",
      "--download",
      local.path,
      await remote(ts, "many", ",concurrency=9"),
    ]);
    assert.match(check.stderr, /40 matching files/);
    assert.ok(peak <= 10, `peak sessions ${peak}`);
  },
});

Deno.test({
  name: "rclone makes and removes folders, moves, deletes and purges",
  ignore,
  async fn() {
    await using ts = await startServer();
    await putFile(ts, "old.txt", "move me\n");
    await putFile(ts, "gone.txt", "delete me\n");
    await putFile(ts, "full/x/y.bin", randomBytes(10));
    await rcloneOk(["mkdir", await remote(ts, "one/two")]);
    assert.ok((await Deno.stat(join(ts.root, "one/two"))).isDirectory);
    await rcloneOk([
      "moveto",
      await remote(ts, "old.txt"),
      await remote(ts, 'one/two/"moved" é.txt'),
    ]);
    assert.equal(await exists(join(ts.root, "old.txt")), false);
    assert.equal(await Deno.readTextFile(join(ts.root, "one/two", '"moved" é.txt')), "move me\n");
    await rcloneOk(["deletefile", await remote(ts, "gone.txt")]);
    assert.equal(await exists(join(ts.root, "gone.txt")), false);
    await rcloneOk(["mkdir", await remote(ts, "empty dir")]);
    await rcloneOk(["rmdir", await remote(ts, "empty dir")]);
    assert.equal(await exists(join(ts.root, "empty dir")), false);
    const notEmpty = await rclone(["rmdir", await remote(ts, "one")]);
    assert.notEqual(notEmpty.code, 0);
    await rcloneOk(["purge", await remote(ts, "full")]);
    assert.equal(await exists(join(ts.root, "full")), false);
    const missing = await rclone(["deletefile", await remote(ts, "gone.txt")]);
    assert.notEqual(missing.code, 0);
  },
});

Deno.test({
  name: "rclone cannot read or write outside the root, directly or through a symlink",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await using local = await tempDir();
    await plantEscapes(ts, outside);

    const root = await rcloneOk(["lsf", await remote(ts)]);
    assert.deepEqual(lines(root.stdout), ["ok.txt"]);
    const rootList = await rcloneOk(["lsf", await remote(ts, "", ",disable_mlsd=true")]);
    assert.deepEqual(lines(rootList.stdout), ["ok.txt"]);

    for (
      const path of [
        "escape",
        "escape/passwd",
        "leak.txt",
        "../../etc/passwd",
        `../${outside.name}`,
      ]
    ) {
      const cat = await rclone(["cat", await remote(ts, path)]);
      assert.notEqual(cat.code, 0, path);
      assert.equal(cat.stdout, "", path);
      const ls = await rclone(["lsf", await remote(ts, path)]);
      assert.notEqual(ls.code, 0, path);
      assert.equal(ls.stdout, "", path);
    }

    const name = `exftp-escape-${crypto.randomUUID()}`;
    await Deno.writeTextFile(join(local.path, "f.txt"), "payload\n");
    // (rclone itself encodes "../" in target names, so it cannot even ask to write above /.)
    for (const target of [`escape/${name}`, "leak.txt"]) {
      const copied = await rclone(["copyto", join(local.path, "f.txt"), await remote(ts, target)]);
      assert.notEqual(copied.code, 0, target);
      assert.match(copied.stderr, /55\d /, target);
    }
    assert.equal(await exists(join("/etc", name)), false);
    assert.equal(await exists(join(dirname(ts.root), name)), false);
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
  },
});
