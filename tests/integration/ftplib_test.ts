/**
 * Python's ftplib against a real server: every test runs one inline script
 * that prints a JSON object of what it saw, which the test then checks.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { hasCommand, randomBytes, sha256, startServer, type TestServer } from "../helpers.ts";
import {
  exists,
  longListingNames,
  outsideFile,
  plantEscapes,
  putFile,
  runOk,
  tempDir,
} from "./_clients.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const ignore = !hasCommand(PYTHON);

/** Shared start of every script: `connect()`, `failure()` and the `out` dict. */
const PRELUDE = `
import ftplib, json, sys, os, hashlib
PORT = int(sys.argv[1])
LOCAL = sys.argv[2]
out = {}

def connect(passive=True, user="test"):
    ftp = ftplib.FTP()
    ftp.encoding = "utf-8"
    ftp.connect("127.0.0.1", PORT, timeout=20)
    ftp.login(user, "secret")
    ftp.set_pasv(passive)
    return ftp

def failure(fn, *args):
    """The error text of a call that must fail (None if it succeeded)."""
    try:
        fn(*args)
    except ftplib.all_errors as error:
        return str(error)
    return None

def collect(ftp, command):
    found = []
    ftp.retrlines(command, found.append)
    return found
`;

/** Run a script body after the prelude; returns the parsed `out` dict. */
async function python(
  ts: TestServer,
  body: string,
  local = "/nonexistent",
): Promise<Record<string, unknown>> {
  const script = PRELUDE + body + "\nprint(json.dumps(out))\n";
  const result = await runOk(PYTHON, ["-c", script, String(ts.addr.port), local], {
    env: { PYTHONIOENCODING: "utf-8" },
  });
  return JSON.parse(result.stdout);
}

async function tree(ts: TestServer): Promise<void> {
  await putFile(ts, "a.txt", "alpha\n");
  await putFile(ts, ".hidden", "secret dot file\n");
  await putFile(ts, "sub/b.txt", "bravo\n");
  await putFile(ts, "sub/.dot", "dot\n");
  await Deno.mkdir(join(ts.root, "sub/deeper"));
}

const sorted = (value: unknown) => [...(value as string[])].sort();

Deno.test({
  name: "ftplib logs in, sees the greeting and PWD, and is refused for root with 530",
  ignore,
  async fn() {
    await using ts = await startServer();
    const out = await python(
      ts,
      `
ftp = ftplib.FTP()
out["welcome"] = ftp.connect("127.0.0.1", PORT, timeout=20)
out["login"] = ftp.login("test", "secret")
out["pwd"] = ftp.pwd()
out["syst"] = ftp.sendcmd("SYST")
out["quit"] = ftp.quit()
bad = ftplib.FTP()
bad.connect("127.0.0.1", PORT, timeout=20)
out["refused"] = failure(bad.login, "root", "x")
bad.close()
`,
    );
    assert.equal(out.welcome, "220 Hello from exftp.");
    assert.match(out.login as string, /^230 /);
    assert.equal(out.pwd, "/");
    assert.match(out.syst as string, /^215 UNIX/);
    assert.match(out.quit as string, /^221 /);
    assert.match(out.refused as string, /^530 /);
  },
});

for (const passive of [true, false]) {
  const mode = passive ? "passive" : "active";
  Deno.test({
    name: `ftplib lists with nlst, dir, mlsd and LIST/NLST flags and paths in ${mode} mode`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await tree(ts);
      const out = await python(
        ts,
        `
ftp = connect(passive=${passive ? "True" : "False"})
out["nlst"] = ftp.nlst()
out["nlst_a"] = ftp.nlst("-a")
out["nlst_sub"] = ftp.nlst("sub")
out["nlst_sub_slash"] = ftp.nlst("sub/")
out["nlst_file"] = ftp.nlst("sub/b.txt")
dir_lines = []
ftp.dir(dir_lines.append)
out["dir"] = dir_lines
sub_lines = []
ftp.dir("sub", sub_lines.append)
out["dir_sub"] = sub_lines
out["list_a_sub"] = collect(ftp, "LIST -a /sub")
out["list_la"] = collect(ftp, "LIST -la")
out["list_l"] = collect(ftp, "LIST -l")
out["list_file"] = collect(ftp, "LIST sub/b.txt")
out["nlst_l"] = collect(ftp, "NLST -l")
out["nlst_la_sub"] = collect(ftp, "NLST -la sub")
out["missing"] = failure(ftp.nlst, "nowhere")
entries = lambda path: [(n, f) for n, f in ftp.mlsd(path) if f["type"] not in ("cdir", "pdir")]
out["mlsd_sub"] = sorted([name, facts["type"], facts.get("size")] for name, facts in entries("sub"))
out["mlsd_root"] = sorted(name for name, facts in entries(""))
ftp.cwd("sub")
out["nlst_in_sub"] = ftp.nlst()
out["nlst_parent"] = ftp.nlst("..")
ftp.quit()
`,
      );
      assert.deepEqual(sorted(out.nlst), ["a.txt", "sub"]);
      assert.deepEqual(sorted(out.nlst_a), [".hidden", "a.txt", "sub"]);
      assert.deepEqual(sorted(out.nlst_sub), ["sub/b.txt", "sub/deeper"]);
      assert.deepEqual(sorted(out.nlst_sub_slash), ["sub/b.txt", "sub/deeper"]);
      assert.deepEqual(out.nlst_file, ["sub/b.txt"]);
      const names = (key: string) => longListingNames((out[key] as string[]).join("\n")).sort();
      assert.deepEqual(names("dir"), ["a.txt", "sub"]);
      assert.deepEqual(names("dir_sub"), ["b.txt", "deeper"]);
      assert.deepEqual(names("list_a_sub"), [".dot", "b.txt", "deeper"]);
      assert.deepEqual(names("list_la"), [".hidden", "a.txt", "sub"]);
      assert.deepEqual(names("list_l"), ["a.txt", "sub"]);
      assert.deepEqual(names("list_file"), ["b.txt"]);
      assert.deepEqual(names("nlst_l"), ["a.txt", "sub"]);
      assert.deepEqual(names("nlst_la_sub"), [".dot", "b.txt", "deeper"]);
      assert.match(out.missing as string, /^550 /);
      assert.deepEqual(out.mlsd_sub, [[".dot", "file", "4"], ["b.txt", "file", "6"], [
        "deeper",
        "dir",
        null,
      ]]);
      assert.deepEqual(out.mlsd_root, [".hidden", "a.txt", "sub"]);
      assert.deepEqual(sorted(out.nlst_in_sub), ["b.txt", "deeper"]);
      assert.deepEqual(sorted(out.nlst_parent), ["../a.txt", "../sub"]);
    },
  });

  Deno.test({
    name: `ftplib uploads and downloads 3 MiB and an empty file byte-exactly in ${mode} mode`,
    ignore,
    async fn() {
      await using ts = await startServer();
      await using local = await tempDir();
      const big = randomBytes(3 * 1024 * 1024);
      await Deno.writeFile(join(local.path, "big.bin"), big);
      await Deno.writeFile(join(local.path, "empty.bin"), new Uint8Array());
      const out = await python(
        ts,
        `
ftp = connect(passive=${passive ? "True" : "False"})
ftp.mkd("up")
for name in ["big.bin", "empty.bin"]:
    with open(os.path.join(LOCAL, name), "rb") as f:
        out["stor_" + name] = ftp.storbinary("STOR up/" + name, f)
    out["size_" + name] = ftp.size("up/" + name)
    with open(os.path.join(LOCAL, "down-" + name), "wb") as f:
        out["retr_" + name] = ftp.retrbinary("RETR up/" + name, f.write)
ftp.quit()
`,
        local.path,
      );
      for (const name of ["big.bin", "empty.bin"]) {
        assert.match(out[`stor_${name}`] as string, /^226 /);
        assert.match(out[`retr_${name}`] as string, /^226 /);
      }
      assert.equal(out["size_big.bin"], big.length);
      assert.equal(out["size_empty.bin"], 0);
      const expected = await sha256(big);
      assert.equal(await sha256(await Deno.readFile(join(ts.root, "up/big.bin"))), expected);
      assert.equal(await sha256(await Deno.readFile(join(local.path, "down-big.bin"))), expected);
      assert.equal((await Deno.readFile(join(ts.root, "up/empty.bin"))).length, 0);
      assert.equal((await Deno.readFile(join(local.path, "down-empty.bin"))).length, 0);
    },
  });
}

Deno.test({
  name: "ftplib storlines/retrlines in TYPE A store LF line ends and read the lines back",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    await Deno.writeTextFile(join(local.path, "text.txt"), "one\ntwo\r\n\nthree\n");
    await putFile(ts, "server.txt", "x\ny\n\nz\n");
    const out = await python(
      ts,
      `
ftp = connect()
with open(os.path.join(LOCAL, "text.txt"), "rb") as f:
    out["stor"] = ftp.storlines("STOR text.txt", f)
out["lines"] = collect(ftp, "RETR text.txt")
out["server"] = collect(ftp, "RETR server.txt")
# retrbinary would send TYPE I: read the raw TYPE A bytes by hand.
ftp.voidcmd("TYPE A")
conn = ftp.transfercmd("RETR server.txt")
wire = b""
while chunk := conn.recv(8192):
    wire += chunk
conn.close()
out["ascii_end"] = ftp.voidresp()
out["ascii_wire"] = wire.decode()
ftp.quit()
`,
      local.path,
    );
    assert.match(out.stor as string, /^226 /);
    assert.equal(await Deno.readTextFile(join(ts.root, "text.txt")), "one\ntwo\n\nthree\n");
    assert.deepEqual(out.lines, ["one", "two", "", "three"]);
    assert.deepEqual(out.server, ["x", "y", "", "z"]);
    assert.match(out.ascii_end as string, /^226 /);
    assert.equal(out.ascii_wire, "x\r\ny\r\n\r\nz\r\n");
  },
});

Deno.test({
  name: "ftplib makes, enters and removes folders, renames, deletes and reads sizes",
  ignore,
  async fn() {
    await using ts = await startServer();
    await putFile(ts, "old.txt", "rename me\n");
    const out = await python(
      ts,
      `
ftp = connect()
out["mkd"] = ftp.mkd("folder")
out["mkd_inner"] = ftp.mkd("folder/inner")
out["mkd_again"] = failure(ftp.mkd, "folder")
out["cwd"] = ftp.cwd("folder/inner")
out["pwd"] = ftp.pwd()
out["cdup"] = ftp.sendcmd("CDUP")
out["pwd_up"] = ftp.pwd()
out["rmd_not_empty"] = failure(ftp.rmd, "/folder")
out["rmd_cwd"] = failure(ftp.rmd, ".")
out["rmd_inner"] = ftp.rmd("inner")
ftp.cwd("/")
out["rename"] = ftp.rename("old.txt", "folder/new.txt")
out["rename_missing"] = failure(ftp.rename, "old.txt", "x.txt")
out["rnto_alone"] = failure(ftp.sendcmd, "RNTO y.txt")
out["size"] = ftp.size("folder/new.txt")
out["size_folder"] = failure(ftp.size, "folder")
out["delete"] = ftp.delete("folder/new.txt")
out["delete_again"] = failure(ftp.delete, "folder/new.txt")
out["delete_folder"] = failure(ftp.delete, "folder")
out["rmd"] = ftp.rmd("folder")
out["cwd_missing"] = failure(ftp.cwd, "folder")
out["nlst"] = ftp.nlst()
ftp.quit()
`,
    );
    assert.equal(out.mkd, "/folder");
    assert.equal(out.mkd_inner, "/folder/inner");
    assert.match(out.mkd_again as string, /^550 /);
    assert.match(out.cwd as string, /^250 /);
    assert.equal(out.pwd, "/folder/inner");
    assert.match(out.cdup as string, /^250 /);
    assert.equal(out.pwd_up, "/folder");
    assert.match(out.rmd_not_empty as string, /^550 /);
    assert.match(out.rmd_cwd as string, /^550 /);
    assert.match(out.rmd_inner as string, /^250 /);
    assert.match(out.rename as string, /^250 /);
    assert.match(out.rename_missing as string, /^550 /);
    assert.match(out.rnto_alone as string, /^503 /);
    assert.equal(out.size, 10);
    assert.match(out.size_folder as string, /^550 /);
    assert.match(out.delete as string, /^250 /);
    assert.match(out.delete_again as string, /^550 /);
    assert.match(out.delete_folder as string, /^550 /);
    assert.match(out.rmd as string, /^250 /);
    assert.match(out.cwd_missing as string, /^550 /);
    assert.deepEqual(out.nlst, []);
    assert.deepEqual([...Deno.readDirSync(ts.root)], []);
  },
});

Deno.test({
  name: "ftplib handles names with spaces, double quotes and non-ASCII letters",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    const data = randomBytes(64 * 1024);
    await Deno.writeFile(join(local.path, "src.bin"), data);
    const out = await python(
      ts,
      `
ftp = connect()
out["mkd"] = ftp.mkd("dir with space")
out["mkd_quoted"] = ftp.mkd('say "hi" ü')
name = 'dir with space/"quoted" é.txt'
with open(os.path.join(LOCAL, "src.bin"), "rb") as f:
    out["stor"] = ftp.storbinary("STOR " + name, f)
out["nlst"] = ftp.nlst("dir with space")
out["list"] = collect(ftp, "LIST dir with space")
out["list_la"] = collect(ftp, "LIST -la dir with space/")
out["size"] = ftp.size(name)
ftp.cwd('say "hi" ü')
out["pwd"] = ftp.pwd()
out["pwd_raw"] = ftp.sendcmd("PWD")
ftp.cwd("/")
out["rename"] = ftp.rename(name, 'say "hi" ü/naïve "x".txt')
with open(os.path.join(LOCAL, "down.bin"), "wb") as f:
    ftp.retrbinary('RETR say "hi" ü/naïve "x".txt', f.write)
out["nlst_after"] = ftp.nlst('say "hi" ü')
out["delete"] = ftp.delete('say "hi" ü/naïve "x".txt')
out["rmd"] = ftp.rmd('say "hi" ü')
ftp.quit()
`,
      local.path,
    );
    assert.equal(out.mkd, "/dir with space");
    assert.equal(out.mkd_quoted, '/say "hi" ü');
    assert.match(out.stor as string, /^226 /);
    assert.deepEqual(out.nlst, ['dir with space/"quoted" é.txt']);
    assert.deepEqual(longListingNames((out.list as string[]).join("\n")), ['"quoted" é.txt']);
    assert.deepEqual(longListingNames((out.list_la as string[]).join("\n")), ['"quoted" é.txt']);
    assert.equal(out.size, data.length);
    assert.equal(out.pwd, '/say "hi" ü');
    assert.equal(out.pwd_raw, '257 "/say ""hi"" ü" is the current directory');
    assert.match(out.rename as string, /^250 /);
    assert.deepEqual(out.nlst_after, ['say "hi" ü/naïve "x".txt']);
    assert.equal(
      await sha256(await Deno.readFile(join(local.path, "down.bin"))),
      await sha256(data),
    );
    assert.match(out.delete as string, /^250 /);
    assert.match(out.rmd as string, /^250 /);
    assert.deepEqual([...Deno.readDirSync(ts.root)].map((e) => e.name), ["dir with space"]);
  },
});

Deno.test({
  name: "ftplib cannot read or write outside the root with ../ paths, and CWD ../.. stays at /",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await putFile(ts, "inside.txt", "inside\n");
    const escapeName = `exftp-escape-${crypto.randomUUID()}`;
    const out = await python(
      ts,
      `
ftp = connect()
ftp.sendcmd("TYPE I")
got = []
out["retr_passwd"] = failure(ftp.retrbinary, "RETR ../../etc/passwd", got.append)
out["retr_outside"] = failure(ftp.retrbinary, "RETR ../${outside.name}", got.append)
out["retr_abs"] = failure(ftp.retrbinary, "RETR /../../../etc/hostname", got.append)
out["size_outside"] = failure(ftp.size, "../${outside.name}")
out["got"] = len(got)
out["cwd"] = ftp.cwd("../..")
out["pwd"] = ftp.pwd()
out["cwd_etc"] = failure(ftp.cwd, "../../etc")
out["pwd_after"] = ftp.pwd()
out["nlst_up"] = ftp.nlst("../..")
out["list_up"] = collect(ftp, "LIST -la ../../")
import io
out["stor_up"] = ftp.storbinary("STOR ../../${escapeName}", io.BytesIO(b"payload"))
out["mkd_up"] = ftp.mkd("../${escapeName}.d")
out["rnfr_outside"] = failure(ftp.sendcmd, "RNFR ../${outside.name}")
out["dele_outside"] = failure(ftp.delete, "../${outside.name}")
ftp.quit()
`,
    );
    assert.match(out.retr_passwd as string, /^550 /);
    assert.match(out.retr_outside as string, /^550 /);
    assert.match(out.retr_abs as string, /^550 /);
    assert.match(out.size_outside as string, /^550 /);
    assert.equal(out.got, 0);
    assert.match(out.cwd as string, /^250 /);
    assert.equal(out.pwd, "/");
    assert.match(out.cwd_etc as string, /^550 /);
    assert.equal(out.pwd_after, "/");
    assert.deepEqual(out.nlst_up, ["../../inside.txt"]);
    assert.deepEqual(longListingNames((out.list_up as string[]).join("\n")), ["inside.txt"]);
    assert.match(out.stor_up as string, /^226 /);
    assert.equal(out.mkd_up, `/${escapeName}.d`);
    assert.match(out.rnfr_outside as string, /^550 /);
    assert.match(out.dele_outside as string, /^550 /);
    // What was written went inside the root; nothing appeared or changed beside it.
    assert.equal(await Deno.readTextFile(join(ts.root, escapeName)), "payload");
    assert.ok((await Deno.stat(join(ts.root, `${escapeName}.d`))).isDirectory);
    assert.equal(await exists(join(dirname(ts.root), escapeName)), false);
    assert.equal(await exists(join(dirname(ts.root), `${escapeName}.d`)), false);
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
  },
});

Deno.test({
  name: "ftplib gets 550 for listing, reading and writing through a symlink that points outside",
  ignore,
  async fn() {
    await using ts = await startServer();
    await using outside = await outsideFile(ts);
    await plantEscapes(ts, outside);
    await Deno.symlink(dirname(ts.root), join(ts.root, "parent"));
    const escapeName = `exftp-escape-${crypto.randomUUID()}`;
    const out = await python(
      ts,
      `
import io
ftp = connect()
ftp.sendcmd("TYPE I")
got = []
out["nlst_root"] = ftp.nlst("-a")
out["list_escape"] = failure(collect, ftp, "LIST escape")
out["list_la_escape"] = failure(collect, ftp, "LIST -la escape/")
out["nlst_escape"] = failure(ftp.nlst, "escape")
out["nlst_parent"] = failure(ftp.nlst, "parent")
out["retr_passwd"] = failure(ftp.retrbinary, "RETR escape/passwd", got.append)
out["retr_leak"] = failure(ftp.retrbinary, "RETR leak.txt", got.append)
out["retr_parent"] = failure(ftp.retrbinary, "RETR parent/${outside.name}", got.append)
out["got"] = len(got)
out["cwd_escape"] = failure(ftp.cwd, "escape")
out["pwd"] = ftp.pwd()
out["size_passwd"] = failure(ftp.size, "escape/passwd")
out["stat_escape"] = failure(ftp.sendcmd, "STAT escape")
out["stor_escape"] = failure(ftp.storbinary, "STOR escape/${escapeName}", io.BytesIO(b"x"))
out["stor_parent"] = failure(ftp.storbinary, "STOR parent/${escapeName}", io.BytesIO(b"x"))
out["stor_leak"] = failure(ftp.storbinary, "STOR leak.txt", io.BytesIO(b"overwritten"))
out["appe_leak"] = failure(ftp.storbinary, "APPE leak.txt", io.BytesIO(b"appended"))
out["mkd_escape"] = failure(ftp.mkd, "escape/${escapeName}")
out["dele_passwd"] = failure(ftp.delete, "escape/passwd")
out["rename_in"] = failure(ftp.rename, "parent/${outside.name}", "stolen.txt")
ftp.quit()
`,
    );
    assert.deepEqual(out.nlst_root, ["ok.txt"]);
    for (
      const key of [
        "list_escape",
        "list_la_escape",
        "nlst_escape",
        "nlst_parent",
        "retr_passwd",
        "retr_leak",
        "retr_parent",
        "cwd_escape",
        "size_passwd",
        "stat_escape",
      ]
    ) {
      assert.match(String(out[key]), /^550 /, key);
    }
    assert.equal(out.got, 0);
    assert.equal(out.pwd, "/");
    for (
      const key of [
        "stor_escape",
        "stor_parent",
        "stor_leak",
        "appe_leak",
        "mkd_escape",
        "dele_passwd",
        "rename_in",
      ]
    ) {
      assert.match(String(out[key]), /^55\d /, key);
    }
    assert.equal(await exists(join("/etc", escapeName)), false);
    assert.equal(await exists(join(dirname(ts.root), escapeName)), false);
    assert.equal(await exists(join(ts.root, "stolen.txt")), false);
    assert.equal(await Deno.readTextFile(outside.path), outside.content);
    assert.ok(await exists("/etc/passwd"));
  },
});

Deno.test({
  name: "ftplib aborts a download with ABOR sent as urgent data and keeps using the session",
  ignore,
  async fn() {
    await using ts = await startServer();
    await putFile(ts, "big.bin", randomBytes(32 * 1024 * 1024));
    const out = await python(
      ts,
      `
ftp = connect()
ftp.sendcmd("TYPE I")
conn = ftp.transfercmd("RETR big.bin")
first = conn.recv(8192)
out["first"] = len(first)
# The data connection stays open and unread, so the server is still sending when ABOR comes.
out["abort"] = ftp.abort()
out["after"] = ftp.getresp()
conn.close()
out["noop"] = ftp.voidcmd("NOOP")
out["size"] = ftp.size("big.bin")
ftp.quit()
`,
    );
    assert.ok((out.first as number) > 0);
    assert.match(out.abort as string, /^426 /);
    assert.match(out.after as string, /^226 /);
    assert.match(out.noop as string, /^200 /);
    assert.equal(out.size, 32 * 1024 * 1024);
  },
});
