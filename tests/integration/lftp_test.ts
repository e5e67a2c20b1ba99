/**
 * lftp against a real server: listings, put/get in passive (PASV and EPSV)
 * and active mode, mirror and mirror -R of a nested tree, folder commands,
 * awkward names, and attempts to leave the root.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { hasCommand, randomBytes, sha256, startServer, type TestServer } from "../helpers.ts";
import {
  exists,
  lines,
  longListingNames,
  outsideFile,
  plantEscapes,
  putFile,
  run,
  runOk,
  type RunResult,
  tempDir,
} from "./_clients.ts";

const ignore = !hasCommand("lftp");

/** The lftp command line for a script after login (plain FTP, no retries, no waiting). */
function lftpArgs(ts: TestServer, script: string, settings = ""): string[] {
  return [
    "-c",
    [
      "set ftp:ssl-allow no",
      "set net:max-retries 1",
      "set net:timeout 15",
      "set net:reconnect-interval-base 1",
      "set xfer:clobber yes",
      "set cache:enable no",
      settings,
      `open -u test,secret ftp://127.0.0.1:${ts.addr.port}`,
      script,
    ].filter((part) => part !== "").join("; "),
  ];
}

/** Run an lftp script that must succeed (any failed command ends it with an error). */
function lftp(ts: TestServer, script: string, settings = ""): Promise<RunResult> {
  return runOk("lftp", lftpArgs(ts, script, `set cmd:fail-exit yes; ${settings}`));
}

/** Run an lftp script that may fail; its last command decides the exit code. */
function lftpMayFail(ts: TestServer, script: string, settings = ""): Promise<RunResult> {
  return run("lftp", lftpArgs(ts, script, settings));
}

/** The protocol lines lftp's debug output shows (`---> CMD` and `<--- reply`). */
function protocol(result: RunResult): { sent: string[]; replies: string[] } {
  const all = lines(result.stderr + "\n" + result.stdout);
  return {
    sent: all.filter((l) => l.startsWith("---> ")).map((l) => l.slice(5)),
    replies: all.filter((l) => l.startsWith("<--- ")).map((l) => l.slice(5)),
  };
}

async function tree(ts: TestServer): Promise<void> {
  await putFile(ts, "a.txt", "alpha\n");
  await putFile(ts, ".hidden", "secret dot file\n");
  await putFile(ts, "sub/b.txt", "bravo\n");
  await putFile(ts, "sub/.dot", "dot\n");
  await Deno.mkdir(join(ts.root, "sub/deeper"));
}

const MODES = [
  { mode: "passive (PASV)", settings: "set ftp:passive-mode on; set ftp:prefer-epsv no" },
  { mode: "passive (EPSV)", settings: "set ftp:passive-mode on; set ftp:prefer-epsv yes" },
  { mode: "active (PORT)", settings: "set ftp:passive-mode off" },
];

for (const { mode, settings } of MODES) {
  Deno.test({
    name: `lftp lists with ls, ls -la, ls -a path, nlist and cls in ${mode} mode`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await tree(ts);
      const sep = "@@@";
      const result = await lftp(
        ts,
        [
          "ls",
          `echo ${sep}`,
          "ls -la",
          `echo ${sep}`,
          "ls -a /sub",
          `echo ${sep}`,
          "ls -l sub/b.txt",
          `echo ${sep}`,
          "nlist",
          `echo ${sep}`,
          "nlist -a",
          `echo ${sep}`,
          "nlist sub",
          `echo ${sep}`,
          "cls -1 sub/",
        ].join("; "),
        settings,
      );
      const parts = result.stdout.split(`${sep}\n`);
      assert.equal(parts.length, 8, result.stdout);
      assert.deepEqual(longListingNames(parts[0]).sort(), ["a.txt", "sub"]);
      assert.deepEqual(longListingNames(parts[1]).sort(), [".hidden", "a.txt", "sub"]);
      assert.deepEqual(longListingNames(parts[2]).sort(), [".dot", "b.txt", "deeper"]);
      assert.deepEqual(longListingNames(parts[3]), ["b.txt"]);
      assert.deepEqual(lines(parts[4]).sort(), ["a.txt", "sub"]);
      assert.deepEqual(lines(parts[5]).sort(), [".hidden", "a.txt", "sub"]);
      assert.deepEqual(lines(parts[6]).sort(), ["sub/b.txt", "sub/deeper"]);
      // cls reads MLSD when the server offers it, and MLSD lists dotfiles too (RFC 3659).
      const cls = lines(parts[7]).sort();
      assert.deepEqual(cls.filter((name) => name !== "sub/.dot"), ["sub/b.txt", "sub/deeper/"]);

      // The mode really is the one asked for (lftp -d shows the protocol on stderr).
      const debug = await runOk("lftp", ["-d", ...lftpArgs(ts, "ls", settings)]);
      assert.deepEqual(longListingNames(debug.stdout).sort(), ["a.txt", "sub"]);
      const { sent, replies } = protocol(debug);
      const expected = mode.includes("EPSV") ? "EPSV" : mode.includes("PASV") ? "PASV" : "PORT";
      assert.ok(sent.some((l) => l.startsWith(expected)), `${expected} in ${debug.stderr}`);
      assert.ok(replies.some((l) => l.startsWith("226 ")), debug.stderr);
    },
  });

  Deno.test({
    name: `lftp puts and gets 3 MiB and an empty file byte-exactly in ${mode} mode`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await using local = await tempDir();
      const big = randomBytes(3 * 1024 * 1024);
      await Deno.writeFile(join(local.path, "big.bin"), big);
      await Deno.writeFile(join(local.path, "empty.bin"), new Uint8Array());
      await lftp(
        ts,
        [
          "mkdir up",
          "cd up",
          `put ${join(local.path, "big.bin")}`,
          `put ${join(local.path, "empty.bin")}`,
          `get big.bin -o ${join(local.path, "down-big.bin")}`,
          `get empty.bin -o ${join(local.path, "down-empty.bin")}`,
        ].join("; "),
        settings,
      );
      const expected = await sha256(big);
      assert.equal(await sha256(await Deno.readFile(join(ts.root, "up/big.bin"))), expected);
      assert.equal(await sha256(await Deno.readFile(join(local.path, "down-big.bin"))), expected);
      assert.equal((await Deno.readFile(join(ts.root, "up/empty.bin"))).length, 0);
      assert.equal((await Deno.readFile(join(local.path, "down-empty.bin"))).length, 0);
    },
  });
}

/** A nested local tree with awkward names; returns path → bytes. */
async function makeTree(base: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>([
    ["top.bin", randomBytes(300_000)],
    ["empty.txt", new Uint8Array()],
    ["a/one.bin", randomBytes(1)],
    ["a/b/two.bin", randomBytes(1_100_000)],
    ["a/b/c/three.txt", new TextEncoder().encode("three\n")],
    ['dir with space/"quoted" é.txt', randomBytes(5000)],
    ["ünïcødé/ñ ✓.bin", randomBytes(777)],
  ]);
  for (const [path, data] of files) {
    await Deno.mkdir(dirname(join(base, path)), { recursive: true });
    await Deno.writeFile(join(base, path), data);
  }
  await Deno.mkdir(join(base, "a/empty-folder"));
  return files;
}

async function assertSameTree(files: Map<string, Uint8Array>, base: string, what: string) {
  for (const [path, data] of files) {
    const found = await Deno.readFile(join(base, path));
    assert.equal(await sha256(found), await sha256(data), `${what}: ${path}`);
  }
  assert.ok((await Deno.stat(join(base, "a/empty-folder"))).isDirectory, `${what}: empty folder`);
}

const MIRROR_MODES = [
  {
    mode: "passive (PASV) mode, listing with MLSD",
    settings: `${MODES[0].settings}; set ftp:use-mlsd on`,
  },
  {
    mode: "active (PORT) mode, listing with LIST",
    settings: `${MODES[2].settings}; set ftp:use-mlsd off`,
  },
];

for (const { mode, settings } of MIRROR_MODES) {
  Deno.test({
    name: `lftp mirror -R uploads and mirror downloads a nested tree in ${mode}`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await using local = await tempDir();
      const files = await makeTree(join(local.path, "src"));
      await lftp(ts, `mirror -R ${join(local.path, "src")} /tree`, settings);
      await assertSameTree(files, join(ts.root, "tree"), "uploaded");

      await lftp(ts, `mirror /tree ${join(local.path, "back")}`, settings);
      await assertSameTree(files, join(local.path, "back"), "downloaded");

      // A second mirror -R finds nothing to do, and one with --delete removes what's gone.
      await Deno.remove(join(local.path, "src/a/b"), { recursive: true });
      await lftp(ts, `mirror -R --delete ${join(local.path, "src")} /tree`, settings);
      assert.equal(await exists(join(ts.root, "tree/a/b")), false);
      assert.ok(await exists(join(ts.root, "tree/a/one.bin")));
    },
  });
}

Deno.test({
  name: "lftp makes and removes folders, moves, renames and deletes files",
  ignore,
  async fn() {
    await using ts = await startServer();
    await putFile(ts, "old.txt", "rename me\n");
    await putFile(ts, "gone.txt", "delete me\n");
    await putFile(ts, "full/x/y.bin", randomBytes(10));
    const result = await lftp(
      ts,
      [
        "mkdir -p one/two/three",
        "mkdir solo",
        "rmdir solo",
        "mv old.txt one/two/new.txt",
        "rm gone.txt",
        "rm -r full",
        "cd one/two",
        "pwd",
        "cd ..",
        "pwd",
        "quote PWD",
      ].join("; "),
    );
    assert.deepEqual(lines(result.stdout), [
      `ftp://test:secret@127.0.0.1:${ts.addr.port}/one/two`,
      `ftp://test:secret@127.0.0.1:${ts.addr.port}/one`,
      '257 "/one" is the current directory',
    ]);
    assert.ok((await Deno.stat(join(ts.root, "one/two/three"))).isDirectory);
    assert.equal(await exists(join(ts.root, "solo")), false);
    assert.equal(await Deno.readTextFile(join(ts.root, "one/two/new.txt")), "rename me\n");
    assert.equal(await exists(join(ts.root, "old.txt")), false);
    assert.equal(await exists(join(ts.root, "gone.txt")), false);
    assert.equal(await exists(join(ts.root, "full")), false);

    const failed = await lftpMayFail(ts, "rmdir one");
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /550/);
    const missing = await lftpMayFail(ts, "rm nothing.txt");
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /550/);
  },
});

Deno.test({
  name: "lftp puts, lists, renames and gets names with spaces, double quotes and non-ASCII letters",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    const data = randomBytes(50_000);
    await Deno.writeFile(join(local.path, "src.bin"), data);
    const result = await lftp(
      ts,
      [
        "mkdir 'dir with space'",
        `put -O 'dir with space' ${join(local.path, "src.bin")} -o '"quoted" é.txt'`,
        "cls -1 'dir with space/'",
        "echo @@@",
        "ls 'dir with space'",
        "echo @@@",
        "mv 'dir with space/\"quoted\" é.txt' 'dir with space/naïve \"x\" ✓.bin'",
        "cd 'dir with space'",
        "quote PWD",
        `get 'naïve "x" ✓.bin' -o ${join(local.path, "back.bin")}`,
      ].join("; "),
    );
    const [cls, ls, pwd] = result.stdout.split("@@@\n");
    assert.deepEqual(lines(cls), ['dir with space/"quoted" é.txt']);
    assert.deepEqual(longListingNames(ls), ['"quoted" é.txt']);
    assert.deepEqual(lines(pwd), ['257 "/dir with space" is the current directory']);
    assert.equal(
      await sha256(await Deno.readFile(join(local.path, "back.bin"))),
      await sha256(data),
    );
    assert.equal(
      await sha256(await Deno.readFile(join(ts.root, "dir with space", 'naïve "x" ✓.bin'))),
      await sha256(data),
    );
  },
});

Deno.test({
  name: "lftp cannot read or write outside the root with ../ paths, and CWD ../.. stays at /",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await using local = await tempDir();
    await putFile(ts, "inside.txt", "inside\n");
    for (const path of ["../../etc/passwd", `../${outside.name}`, "/../../../etc/hostname"]) {
      const result = await lftpMayFail(ts, `cat ${path}`);
      assert.notEqual(result.code, 0, path);
      assert.match(result.stderr, /550/, path);
      assert.equal(result.stdout, "", path);
    }
    const cwd = await lftp(ts, "quote CWD ../..; quote PWD; quote CDUP; quote PWD");
    assert.deepEqual(lines(cwd.stdout), [
      '250 Folder changed to "/"',
      '257 "/" is the current directory',
      '250 Folder changed to "/"',
      '257 "/" is the current directory',
    ]);
    const nlist = await lftp(ts, "nlist ../..");
    assert.deepEqual(lines(nlist.stdout), ["../../inside.txt"]);

    const name = `exftp-escape-${crypto.randomUUID()}`;
    await Deno.writeTextFile(join(local.path, "f.txt"), "payload\n");
    await lftp(ts, `put ${join(local.path, "f.txt")} -o ../../${name}`);
    assert.equal(await exists(join(dirname(ts.root), name)), false);
    assert.equal(await Deno.readTextFile(join(ts.root, name)), "payload\n");
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
  },
});

Deno.test({
  name: "lftp gets 550 listing, reading or writing through a symlink that points outside",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await using local = await tempDir();
    await plantEscapes(ts, outside);

    const root = await lftp(ts, "set ftp:list-options -a; cls -1");
    assert.deepEqual(lines(root.stdout), ["ok.txt"]);

    for (
      const command of [
        "cls escape/",
        "ls escape",
        "ls -la escape/",
        "nlist escape",
        "cat escape/passwd",
        "cat leak.txt",
        "cd escape",
      ]
    ) {
      const result = await lftpMayFail(ts, command);
      assert.notEqual(result.code, 0, command);
      assert.match(result.stderr + result.stdout, /550/, command);
      assert.doesNotMatch(result.stdout, /root:|outside secret/, command);
    }

    // quote prints the reply and succeeds whatever the code.
    const stat = await lftp(ts, "quote STAT escape");
    assert.match(stat.stdout, /^550 /);

    const name = `exftp-escape-${crypto.randomUUID()}`;
    await Deno.writeTextFile(join(local.path, "f.txt"), "payload\n");
    const write = await lftpMayFail(ts, `put ${join(local.path, "f.txt")} -o escape/${name}`);
    assert.notEqual(write.code, 0, write.stderr);
    assert.match(write.stderr, /55\d/);
    const over = await lftpMayFail(ts, `put ${join(local.path, "f.txt")} -o leak.txt`);
    assert.notEqual(over.code, 0, over.stderr);
    assert.equal(await exists(join("/etc", name)), false);
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
  },
});
