/**
 * curl against a real server: login, listings, transfers in passive and
 * active mode, -Q commands, awkward names, and attempts to leave the root.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { hasCommand, randomBytes, sha256, startServer, type TestServer } from "../helpers.ts";
import {
  exists,
  ftpUrl,
  lines,
  longListingNames,
  outsideFile,
  plantEscapes,
  putFile,
  readRootFile,
  run,
  runOk,
  type RunResult,
  tempDir,
} from "./_clients.ts";

const ignore = !hasCommand("curl");

/** curl with a login, quiet except for errors, and its own deadline. */
function curl(args: string[]): Promise<RunResult> {
  return run("curl", ["-sS", "--max-time", "20", "-u", "test:secret", ...args]);
}

async function curlOk(args: string[]): Promise<RunResult> {
  return await runOk("curl", ["-sS", "--max-time", "20", "-u", "test:secret", ...args]);
}

/** The server replies shown by `curl -v` (lines starting with `< `), e.g. "250 …". */
function replies(result: RunResult): string[] {
  return lines(result.stderr).filter((line) => line.startsWith("< ")).map((line) => line.slice(2));
}

/** The commands curl sent, as shown by `curl -v`. */
function sent(result: RunResult): string[] {
  return lines(result.stderr).filter((line) => line.startsWith("> ")).map((line) => line.slice(2));
}

async function tree(ts: TestServer): Promise<void> {
  await putFile(ts, "a.txt", "alpha\n");
  await putFile(ts, ".hidden", "secret dot file\n");
  await putFile(ts, "sub/b.txt", "bravo\n");
  await putFile(ts, "sub/.dot", "dot\n");
  await Deno.mkdir(join(ts.root, "sub/deeper"));
}

Deno.test({
  name: "curl logs in and lists the root with LIST over EPSV and over PASV",
  ignore,
  async fn() {
    await using ts = await startServer();
    await tree(ts);
    const epsv = await curlOk(["-v", ftpUrl(ts)]);
    assert.ok(sent(epsv).includes("EPSV"), epsv.stderr);
    assert.ok(replies(epsv).some((r) => r.startsWith("230 ")), epsv.stderr);
    assert.deepEqual(longListingNames(epsv.stdout).sort(), ["a.txt", "sub"]);

    const pasv = await curlOk(["-v", "--disable-epsv", ftpUrl(ts)]);
    assert.ok(sent(pasv).includes("PASV"), pasv.stderr);
    assert.ok(
      replies(pasv).some((r) => /^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.$/.test(r)),
      pasv.stderr,
    );
    assert.deepEqual(longListingNames(pasv.stdout).sort(), ["a.txt", "sub"]);
  },
});

Deno.test({
  name: "curl is refused with a wrong user and gets 530",
  ignore,
  async fn() {
    await using ts = await startServer();
    const result = await run("curl", ["-sS", "-v", "--max-time", "20", "-u", "root:x", ftpUrl(ts)]);
    assert.equal(result.code, 67, result.stderr); // CURLE_LOGIN_DENIED
    assert.ok(replies(result).some((r) => r.startsWith("530 ")), result.stderr);
  },
});

Deno.test({
  name: "curl lists names with NLST (-l) and dotfiles with LIST -a, -la and NLST -a",
  ignore,
  async fn() {
    await using ts = await startServer();
    await tree(ts);
    const nlst = await curlOk(["-l", ftpUrl(ts)]);
    assert.deepEqual(lines(nlst.stdout).sort(), ["a.txt", "sub"]);

    const listLa = await curlOk(["-X", "LIST -la", ftpUrl(ts)]);
    assert.deepEqual(longListingNames(listLa.stdout).sort(), [".hidden", "a.txt", "sub"]);

    const listA = await curlOk(["-X", "LIST -a", ftpUrl(ts)]);
    assert.deepEqual(longListingNames(listA.stdout).sort(), [".hidden", "a.txt", "sub"]);

    const nlstA = await curlOk(["-X", "NLST -a", ftpUrl(ts)]);
    assert.deepEqual(lines(nlstA.stdout).sort(), [".hidden", "a.txt", "sub"]);

    const nlstL = await curlOk(["-X", "NLST -l", ftpUrl(ts)]);
    assert.deepEqual(longListingNames(nlstL.stdout).sort(), ["a.txt", "sub"]);
  },
});

Deno.test({
  name: "curl lists a sub folder by path with CWD, without CWD, and with LIST/NLST arguments",
  ignore,
  async fn() {
    await using ts = await startServer();
    await tree(ts);
    const viaCwd = await curlOk(["-v", ftpUrl(ts, "/sub/")]);
    assert.ok(sent(viaCwd).includes("CWD sub"), viaCwd.stderr);
    assert.deepEqual(longListingNames(viaCwd.stdout).sort(), ["b.txt", "deeper"]);

    const noCwd = await curlOk(["-v", "--ftp-method", "nocwd", ftpUrl(ts, "/sub/")]);
    assert.ok(!sent(noCwd).some((line) => line.startsWith("CWD")), noCwd.stderr);
    assert.deepEqual(longListingNames(noCwd.stdout).sort(), ["b.txt", "deeper"]);

    const listLaPath = await curlOk(["-X", "LIST -la /sub", ftpUrl(ts)]);
    assert.deepEqual(longListingNames(listLaPath.stdout).sort(), [".dot", "b.txt", "deeper"]);

    const nlstPath = await curlOk(["-X", "NLST sub", ftpUrl(ts)]);
    assert.deepEqual(lines(nlstPath.stdout).sort(), ["sub/b.txt", "sub/deeper"]);

    const nlstFile = await curlOk(["-X", "NLST sub/b.txt", ftpUrl(ts)]);
    assert.deepEqual(lines(nlstFile.stdout), ["sub/b.txt"]);

    const listFile = await curlOk(["-X", "LIST sub/b.txt", ftpUrl(ts)]);
    assert.deepEqual(longListingNames(listFile.stdout), ["b.txt"]);

    const missing = await curl(["-v", "-X", "LIST /nowhere", ftpUrl(ts)]);
    assert.notEqual(missing.code, 0);
    assert.ok(replies(missing).some((r) => r.startsWith("550 ")), missing.stderr);
  },
});

/** Upload 3 MiB and an empty file, download both, compare hashes, with extra curl flags. */
async function roundTrip(ts: TestServer, modeArgs: string[]): Promise<RunResult[]> {
  await using local = await tempDir();
  const big = randomBytes(3 * 1024 * 1024);
  await Deno.writeFile(join(local.path, "big.bin"), big);
  await Deno.writeFile(join(local.path, "empty.bin"), new Uint8Array());
  const results: RunResult[] = [];
  for (const name of ["big.bin", "empty.bin"]) {
    results.push(
      await curlOk(["-v", ...modeArgs, "-T", join(local.path, name), ftpUrl(ts, `/up/${name}`)]),
    );
  }
  // The folder is made first by a quote command: curl's --ftp-create-dirs is tested elsewhere.
  assert.equal(await sha256(await readRootFile(ts, "up/big.bin")), await sha256(big));
  assert.equal((await readRootFile(ts, "up/empty.bin")).length, 0);
  for (const name of ["big.bin", "empty.bin"]) {
    const out = join(local.path, `down-${name}`);
    results.push(await curlOk(["-v", ...modeArgs, "-o", out, ftpUrl(ts, `/up/${name}`)]));
  }
  assert.equal(
    await sha256(await Deno.readFile(join(local.path, "down-big.bin"))),
    await sha256(big),
  );
  assert.equal((await Deno.readFile(join(local.path, "down-empty.bin"))).length, 0);
  return results;
}

Deno.test({
  name: "curl uploads and downloads 3 MiB and an empty file byte-exactly in passive mode",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "up"));
    const results = await roundTrip(ts, []);
    for (const result of results) {
      assert.ok(sent(result).includes("EPSV"), result.stderr);
      assert.ok(sent(result).includes("TYPE I"), result.stderr);
      assert.ok(replies(result).some((r) => r.startsWith("226 ")), result.stderr);
    }
  },
});

Deno.test({
  name: "curl uploads and downloads byte-exactly in passive mode with PASV",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "up"));
    const results = await roundTrip(ts, ["--disable-epsv"]);
    for (const result of results) assert.ok(sent(result).includes("PASV"), result.stderr);
  },
});

Deno.test({
  name: "curl uploads and downloads byte-exactly in active mode with EPRT (-P -)",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "up"));
    const results = await roundTrip(ts, ["-P", "-"]);
    for (const result of results) {
      assert.ok(sent(result).some((line) => line.startsWith("EPRT |1|127.0.0.1|")), result.stderr);
      assert.ok(replies(result).some((r) => r.startsWith("226 ")), result.stderr);
    }
  },
});

Deno.test({
  name: "curl uploads and downloads byte-exactly in active mode with PORT",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "up"));
    const results = await roundTrip(ts, ["-P", "-", "--disable-eprt"]);
    for (const result of results) {
      assert.ok(sent(result).some((line) => line.startsWith("PORT 127,0,0,1,")), result.stderr);
    }
  },
});

Deno.test({
  name: "curl makes and removes folders with MKD and RMD, and creates paths with --ftp-create-dirs",
  ignore,
  async fn() {
    await using ts = await startServer();
    const made = await curlOk(["-v", "-Q", "MKD newdir", "-Q", "MKD newdir/inner", ftpUrl(ts)]);
    assert.ok(replies(made).includes('257 "/newdir" created'), made.stderr);
    assert.ok(replies(made).includes('257 "/newdir/inner" created'), made.stderr);
    assert.ok((await Deno.stat(join(ts.root, "newdir/inner"))).isDirectory);

    const again = await curl(["-v", "-Q", "MKD newdir", ftpUrl(ts)]);
    assert.equal(again.code, 21, again.stderr); // CURLE_QUOTE_ERROR
    assert.ok(replies(again).some((r) => r.startsWith("550 ")), again.stderr);

    const notEmpty = await curl(["-v", "-Q", "RMD newdir", ftpUrl(ts)]);
    assert.equal(notEmpty.code, 21, notEmpty.stderr);
    assert.ok(replies(notEmpty).some((r) => r.startsWith("550 ")), notEmpty.stderr);

    await curlOk(["-Q", "RMD newdir/inner", "-Q", "RMD newdir", ftpUrl(ts)]);
    assert.equal(await exists(join(ts.root, "newdir")), false);

    await using local = await tempDir();
    await Deno.writeTextFile(join(local.path, "f.txt"), "made deep\n");
    await curlOk([
      "--ftp-create-dirs",
      "-T",
      join(local.path, "f.txt"),
      ftpUrl(ts, "/x/y/z/f.txt"),
    ]);
    assert.equal(await Deno.readTextFile(join(ts.root, "x/y/z/f.txt")), "made deep\n");
  },
});

Deno.test({
  name: "curl renames with RNFR/RNTO and deletes with DELE",
  ignore,
  async fn() {
    await using ts = await startServer();
    await putFile(ts, "old.txt", "rename me\n");
    await putFile(ts, "dir/gone.txt", "delete me\n");
    const renamed = await curlOk([
      "-v",
      "-Q",
      "RNFR old.txt",
      "-Q",
      "RNTO dir/new.txt",
      ftpUrl(ts),
    ]);
    assert.ok(replies(renamed).some((r) => r.startsWith("350 ")), renamed.stderr);
    assert.ok(replies(renamed).includes('250 Renamed to "/dir/new.txt"'), renamed.stderr);
    assert.equal(await exists(join(ts.root, "old.txt")), false);
    assert.equal(await Deno.readTextFile(join(ts.root, "dir/new.txt")), "rename me\n");

    const missing = await curl(["-v", "-Q", "RNFR nothing.txt", ftpUrl(ts)]);
    assert.equal(missing.code, 21, missing.stderr);
    assert.ok(replies(missing).some((r) => r.startsWith("550 ")), missing.stderr);

    const orphan = await curl(["-v", "-Q", "RNTO x.txt", ftpUrl(ts)]);
    assert.equal(orphan.code, 21, orphan.stderr);
    assert.ok(replies(orphan).some((r) => r.startsWith("503 ")), orphan.stderr);

    // "-DELE …" runs after the transfer, in the folder curl changed to for the listing.
    const deleted = await curlOk(["-v", "-Q", "-DELE gone.txt", ftpUrl(ts, "/dir/")]);
    assert.deepEqual(longListingNames(deleted.stdout).sort(), ["gone.txt", "new.txt"]);
    assert.ok(replies(deleted).includes('250 File "/dir/gone.txt" deleted'), deleted.stderr);
    assert.equal(await exists(join(ts.root, "dir/gone.txt")), false);

    const twice = await curl(["-v", "-Q", "DELE dir/gone.txt", ftpUrl(ts)]);
    assert.equal(twice.code, 21, twice.stderr);
    assert.ok(replies(twice).some((r) => r.startsWith("550 ")), twice.stderr);
  },
});

Deno.test({
  name:
    "curl uploads, lists, renames and downloads names with spaces, quotes and non-ASCII letters",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    const data = randomBytes(4096);
    await Deno.writeFile(join(local.path, "src.bin"), data);
    const encodedDir = "dir%20with%20space";
    const encodedFile = "%22quoted%22%20%C3%A9.txt";
    await curlOk([
      "--ftp-create-dirs",
      "-T",
      join(local.path, "src.bin"),
      ftpUrl(ts, `/${encodedDir}/${encodedFile}`),
    ]);
    const stored = join(ts.root, "dir with space", '"quoted" é.txt');
    assert.equal(await sha256(await Deno.readFile(stored)), await sha256(data));

    const listing = await curlOk([ftpUrl(ts, `/${encodedDir}/`)]);
    assert.deepEqual(longListingNames(listing.stdout), ['"quoted" é.txt']);
    const names = await curlOk(["-l", ftpUrl(ts, `/${encodedDir}/`)]);
    assert.deepEqual(lines(names.stdout), ['"quoted" é.txt']);

    const out = join(local.path, "out.bin");
    await curlOk(["-o", out, ftpUrl(ts, `/${encodedDir}/${encodedFile}`)]);
    assert.equal(await sha256(await Deno.readFile(out)), await sha256(data));

    const made = await curlOk(["-v", "-Q", 'MKD say "hi" ü', ftpUrl(ts)]);
    assert.ok(replies(made).includes('257 "/say ""hi"" ü" created'), made.stderr);
    const moved = await curlOk([
      "-v",
      "-Q",
      'RNFR dir with space/"quoted" é.txt',
      "-Q",
      'RNTO say "hi" ü/naïve "x".txt',
      ftpUrl(ts),
    ]);
    assert.ok(replies(moved).some((r) => r.startsWith("250 ")), moved.stderr);
    assert.equal(
      await sha256(await Deno.readFile(join(ts.root, 'say "hi" ü', 'naïve "x".txt'))),
      await sha256(data),
    );
  },
});

Deno.test({
  name: "curl cannot read outside the root with ../ paths, and CWD ../.. stays at /",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await putFile(ts, "inside.txt", "inside\n");
    for (const path of ["/../../etc/passwd", `/../${outside.name}`, "/../../../../etc/hostname"]) {
      const result = await curl([
        "-v",
        "--path-as-is",
        "--ftp-method",
        "nocwd",
        "--ignore-content-length",
        ftpUrl(ts, path),
      ]);
      assert.equal(result.code, 78, `${path}: ${result.stderr}`); // CURLE_REMOTE_FILE_NOT_FOUND
      assert.ok(sent(result).includes(`RETR ${path.slice(1)}`), result.stderr);
      assert.ok(replies(result).some((r) => r.startsWith("550 ")), result.stderr);
      assert.equal(result.stdout, "");
    }
    const cwd = await curlOk(["-v", "-Q", "CWD ../..", "-Q", "PWD", ftpUrl(ts)]);
    assert.ok(replies(cwd).includes('257 "/" is the current directory'), cwd.stderr);
    assert.deepEqual(longListingNames(cwd.stdout), ["inside.txt"]);

    const up = await curlOk(["-v", "-Q", "CWD ..", "-Q", "CDUP", "-Q", "PWD", ftpUrl(ts)]);
    assert.ok(replies(up).includes('257 "/" is the current directory'), up.stderr);

    const listUp = await curlOk(["-X", "NLST ../..", ftpUrl(ts)]);
    assert.deepEqual(lines(listUp.stdout), ["../../inside.txt"]);
  },
});

Deno.test({
  name: "curl cannot write outside the root: ../ uploads land inside it",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    await Deno.writeTextFile(join(local.path, "f.txt"), "payload\n");
    const name = `exftp-escape-${crypto.randomUUID()}.txt`;
    await curlOk([
      "--path-as-is",
      "--ftp-method",
      "nocwd",
      "-T",
      join(local.path, "f.txt"),
      ftpUrl(ts, `/../${name}`),
    ]);
    assert.equal(await exists(join(dirname(ts.root), name)), false);
    assert.equal(await Deno.readTextFile(join(ts.root, name)), "payload\n");

    const made = await curlOk(["-v", "-Q", `MKD ../../${name}.d`, ftpUrl(ts)]);
    assert.ok(replies(made).includes(`257 "/${name}.d" created`), made.stderr);
    assert.equal(await exists(join(dirname(ts.root), `${name}.d`)), false);
    assert.ok((await Deno.stat(join(ts.root, `${name}.d`))).isDirectory);
  },
});

Deno.test({
  name: "curl cannot list, read or write through a symlink that points outside the root",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await plantEscapes(ts, outside);

    const root = await curlOk([ftpUrl(ts)]);
    assert.deepEqual(longListingNames(root.stdout), ["ok.txt"]);

    const viaCwd = await curl(["-v", ftpUrl(ts, "/escape/")]);
    assert.equal(viaCwd.code, 9, viaCwd.stderr); // CURLE_REMOTE_ACCESS_DENIED
    assert.ok(replies(viaCwd).some((r) => r.startsWith("550 ")), viaCwd.stderr);

    for (
      const command of ["LIST escape", "NLST escape", "LIST -la escape/", "NLST escape/passwd"]
    ) {
      const listed = await curl(["-v", "-X", command, ftpUrl(ts)]);
      assert.notEqual(listed.code, 0, `${command}: ${listed.stdout}`);
      assert.ok(replies(listed).some((r) => r.startsWith("550 ")), `${command}: ${listed.stderr}`);
      assert.ok(!replies(listed).some((r) => r.startsWith("150 ")), listed.stderr);
      assert.equal(listed.stdout, "");
    }

    for (const path of ["/escape/passwd", "/leak.txt"]) {
      const read = await curl([
        "-v",
        "--ftp-method",
        "nocwd",
        "--ignore-content-length",
        ftpUrl(ts, path),
      ]);
      assert.equal(read.code, 78, `${path}: ${read.stderr}`);
      assert.ok(replies(read).some((r) => r.startsWith("550 ")), read.stderr);
      assert.equal(read.stdout, "");
    }

    await using local = await tempDir();
    await Deno.writeTextFile(join(local.path, "f.txt"), "payload\n");
    const name = `exftp-escape-${crypto.randomUUID()}`;
    const write = await curl([
      "-v",
      "--ftp-method",
      "nocwd",
      "-T",
      join(local.path, "f.txt"),
      ftpUrl(ts, `/escape/${name}`),
    ]);
    assert.notEqual(write.code, 0, write.stderr);
    assert.ok(replies(write).some((r) => /^55\d /.test(r)), write.stderr);
    assert.equal(await exists(join("/etc", name)), false);

    const overLink = await curl(["-v", "-T", join(local.path, "f.txt"), ftpUrl(ts, "/leak.txt")]);
    assert.notEqual(overLink.code, 0, overLink.stderr);
    assert.ok(replies(overLink).some((r) => /^55\d /.test(r)), overLink.stderr);
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
  },
});
