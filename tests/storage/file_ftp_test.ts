/**
 * The file connector through the server with a real client (python3 ftplib)
 * and a raw one for exact replies and log lines: RMD on a symlink, the
 * server's temporary names, orphaned temporary files, names that are not
 * valid UTF-8, SITE CHMOD on the root, and refusals in the log.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FileStorage, type LogLevel } from "../../mod.ts";
import { TEMP_PREFIX } from "../../src/storage/file.ts";
import { scopeToHome } from "../../src/storage/scoped.ts";
import { hasCommand, startServer, type TestServer } from "../helpers.ts";
import { runOk } from "../integration/_clients.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const ignore = !hasCommand(PYTHON);

const PRELUDE = `
import ftplib, json, sys, io
PORT = int(sys.argv[1])
out = {}

def connect():
    ftp = ftplib.FTP()
    ftp.encoding = "utf-8"
    ftp.connect("127.0.0.1", PORT, timeout=20)
    ftp.login("test", "secret")
    return ftp

def failure(fn, *args):
    """The error text of a call that must fail (None if it succeeded)."""
    try:
        fn(*args)
    except ftplib.all_errors as error:
        return str(error)
    return None
`;

async function python(ts: TestServer, body: string): Promise<Record<string, unknown>> {
  const script = PRELUDE + body + "\nprint(json.dumps(out))\n";
  const result = await runOk(PYTHON, ["-c", script, String(ts.addr.port)], {
    env: { PYTHONIOENCODING: "utf-8" },
  });
  return JSON.parse(result.stdout);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

interface LogLine {
  level: LogLevel;
  message: string;
  fields: Record<string, unknown>;
}

function capturingLogger(): { lines: LogLine[]; logger: (...args: unknown[]) => void } {
  const lines: LogLine[] = [];
  return {
    lines,
    logger: (level, message, fields) =>
      lines.push({
        level: level as LogLevel,
        message: message as string,
        fields: (fields ?? {}) as Record<string, unknown>,
      }),
  };
}

Deno.test({
  name:
    "ftplib: RMD of a symlink to a folder is refused and removes nothing; DELE removes the link",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "target"));
    await Deno.writeTextFile(join(ts.root, "target", "keep.txt"), "keep");
    await Deno.mkdir(join(ts.root, "empty"));
    await Deno.symlink(join(ts.root, "target"), join(ts.root, "link"));
    await Deno.symlink(join(ts.root, "empty"), join(ts.root, "emptylink"));
    const out = await python(
      ts,
      `
ftp = connect()
out["rmd_link"] = failure(ftp.rmd, "link")
out["rmd_emptylink"] = failure(ftp.rmd, "emptylink")
out["dele_emptylink"] = failure(ftp.delete, "emptylink")
out["names"] = sorted(ftp.nlst())
ftp.quit()
`,
    );
    assert.match(out.rmd_link as string, /^550 .*symbolic link/);
    assert.match(out.rmd_emptylink as string, /^550 .*symbolic link/);
    assert.equal(out.dele_emptylink, null);
    assert.deepEqual(out.names, ["empty", "link", "target"]);
    assert.equal(await Deno.readTextFile(join(ts.root, "target", "keep.txt")), "keep");
    assert.ok((await Deno.stat(join(ts.root, "empty"))).isDirectory, "the link's target stays");
    assert.ok((await Deno.lstat(join(ts.root, "link"))).isSymlink);
  },
});

Deno.test({
  name: "ftplib: the server's temporary names are refused with 550, to create or to address",
  ignore,
  async fn() {
    await using ts = await startServer();
    const temp = `${TEMP_PREFIX}planted`;
    await Deno.writeTextFile(join(ts.root, temp), "an upload in progress");
    await Deno.writeTextFile(join(ts.root, "a.txt"), "a");
    const out = await python(
      ts,
      `
ftp = connect()
got = []
out["stor"] = failure(ftp.storbinary, "STOR ${TEMP_PREFIX}mine", io.BytesIO(b"x"))
out["mkd"] = failure(ftp.mkd, "${TEMP_PREFIX}dir")
out["rnto"] = failure(ftp.rename, "a.txt", "${TEMP_PREFIX}x")
out["retr"] = failure(ftp.retrbinary, "RETR ${temp}", got.append)
out["dele"] = failure(ftp.delete, "${temp}")
out["size"] = failure(ftp.size, "${temp}")
out["got"] = len(got)
out["names"] = sorted(ftp.nlst("-a"))
ftp.quit()
`,
    );
    for (const key of ["stor", "mkd", "rnto", "retr", "dele", "size"]) {
      assert.match(out[key] as string, /^550 .*reserved for the server's temporary uploads/, key);
    }
    assert.equal(out.got, 0);
    assert.deepEqual(out.names, ["a.txt"]);
    assert.equal(await Deno.readTextFile(join(ts.root, temp)), "an upload in progress");
    assert.deepEqual([...Deno.readDirSync(ts.root)].map((e) => e.name).sort(), [temp, "a.txt"]);
  },
});

Deno.test({
  name: "ftplib: RMD of a folder that only an orphaned temporary file holds succeeds",
  ignore,
  async fn() {
    await using ts = await startServer();
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const folder of ["crashed", "listed"]) {
      await Deno.mkdir(join(ts.root, folder));
      const orphan = join(ts.root, folder, `${TEMP_PREFIX}${crypto.randomUUID()}`);
      await Deno.writeTextFile(orphan, "left behind by a crash");
      await Deno.utime(orphan, hoursAgo, hoursAgo);
    }
    const out = await python(
      ts,
      `
ftp = connect()
out["rmd"] = failure(ftp.rmd, "crashed")
out["listed"] = ftp.nlst("-a", "listed")
ftp.quit()
`,
    );
    assert.equal(out.rmd, null);
    assert.equal(await exists(join(ts.root, "crashed")), false);
    assert.deepEqual(out.listed, []);
    assert.deepEqual([...Deno.readDirSync(join(ts.root, "listed"))], [], "listing removed it");
  },
});

Deno.test({
  name: "ftplib: a name that is not valid UTF-8 is listed with U+FFFD and refused with a reason",
  ignore,
  async fn() {
    await using ts = await startServer();
    await Deno.mkdir(join(ts.root, "d"));
    const made = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import os, sys; open(os.fsencode(sys.argv[1]) + b'/bad\\xff.txt', 'wb').write(b'x')",
        join(ts.root, "d"),
      ],
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const out = await python(
      ts,
      `
ftp = connect()
got = []
out["nlst"] = ftp.nlst("d")
out["mlsd"] = [name for name, facts in ftp.mlsd("d")]
out["list"] = []
ftp.retrlines("LIST d", out["list"].append)
out["retr"] = failure(ftp.retrbinary, "RETR d/bad\\ufffd.txt", got.append)
out["dele"] = failure(ftp.delete, "d/bad\\ufffd.txt")
out["rmd"] = failure(ftp.rmd, "d")
ftp.quit()
`,
    );
    assert.deepEqual(out.nlst, ["d/bad\uFFFD.txt"]);
    assert.deepEqual(out.mlsd, ["bad\uFFFD.txt"]);
    assert.equal((out.list as string[]).length, 1);
    assert.match((out.list as string[])[0], /^-.* bad\uFFFD\.txt$/);
    assert.match(out.retr as string, /^550 .*not valid UTF-8.*rename it on the server/);
    assert.match(out.dele as string, /^550 .*not valid UTF-8/);
    assert.match(out.rmd as string, /^550 .*1 name\(s\) that are not valid UTF-8/);
    assert.equal([...Deno.readDirSync(join(ts.root, "d"))].length, 1);
  },
});

Deno.test({
  name: "ftplib: SITE CHMOD of / is refused on the storage root and on a user's home",
  ignore,
  async fn() {
    let root = "";
    const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
    for (const home of [undefined, "/home/test"]) {
      await using ts = await startServer(
        home === undefined ? {} : {
          storage: (user) => scopeToHome(new FileStorage({ root }), `/home/${user.username}`),
        },
      );
      root = ts.root;
      if (home) await Deno.mkdir(join(ts.root, home), { recursive: true });
      const folder = join(ts.root, home ?? "");
      const before = await mode(folder);
      const out = await python(
        ts,
        `
ftp = connect()
ftp.mkd("sub")
out["root"] = failure(ftp.sendcmd, "SITE CHMOD 000 /")
out["dot"] = failure(ftp.sendcmd, "SITE CHMOD 0 .")
out["sub"] = ftp.sendcmd("SITE CHMOD 700 sub")
ftp.quit()
`,
      );
      assert.match(out.root as string, /^550 /, `home ${home}`);
      assert.match(out.dot as string, /^550 /, `home ${home}`);
      assert.match(out.sub as string, /^200 /);
      assert.equal(await mode(folder), before);
      assert.equal(await mode(join(folder, "sub")), 0o700);
    }
  },
});

Deno.test("refused file operations are logged with the reason; RNTO logs both names", async () => {
  const log = capturingLogger();
  await using ts = await startServer({ logger: log.logger });
  await Deno.writeTextFile(join(ts.root, "a.txt"), "a");
  const client = await ts.client();
  assert.equal((await client.send("DELE missing.txt")).code, 550);
  assert.equal((await client.send("MKD a.txt")).code, 550);
  assert.equal((await client.send("RMD a.txt")).code, 550);
  assert.equal((await client.send("RNFR nope")).code, 550);
  assert.equal((await client.send("SITE CHMOD 600 nope")).code, 550);
  assert.equal((await client.send("SITE CHMOD 000 /")).code, 550);
  assert.equal((await client.send(`STOR ${TEMP_PREFIX}x`)).code, 550);
  assert.equal((await client.send("RNFR a.txt")).code, 350);
  assert.equal((await client.send("RNTO b.txt")).code, 250);
  assert.equal((await client.send("RNFR b.txt")).code, 350);
  assert.equal((await client.send(`RNTO ${TEMP_PREFIX}y`)).code, 550);
  // Transfers refused before their data connection (vsftpd logs these as FAIL DOWNLOAD/UPLOAD).
  assert.equal((await client.send("RETR missing.txt")).code, 550);
  assert.equal((await client.send("STOR nodir/x.txt")).code, 553);
  assert.equal((await client.send("APPE nodir/y.txt")).code, 553);

  const refusals = log.lines.filter((line) => line.message.endsWith(" refused"));
  const summary = refusals.map((line) => `${line.level} ${line.message} ${line.fields.path}`);
  assert.deepEqual(summary, [
    "info DELE refused /missing.txt",
    "info MKD refused /a.txt",
    "info RMD refused /a.txt",
    "info RNFR refused /nope",
    "info SITE CHMOD refused /nope",
    "warn SITE CHMOD refused /",
    `warn STOR refused /${TEMP_PREFIX}x`,
    `warn RNTO refused /${TEMP_PREFIX}y`,
    "info RETR refused /missing.txt",
    "info STOR refused /nodir/x.txt",
    "info APPE refused /nodir/y.txt",
  ]);
  for (const line of refusals) assert.ok(line.fields.reason, `${line.message} has a reason`);
  assert.match(String(refusals[0].fields.reason), /No such file/);
  assert.equal(refusals.find((line) => line.message === "RNTO refused")!.fields.from, "/b.txt");
  const renamed = log.lines.find((line) => line.message === "RNTO ok");
  assert.deepEqual(
    { from: renamed?.fields.from, path: renamed?.fields.path },
    { from: "/a.txt", path: "/b.txt" },
  );
});
