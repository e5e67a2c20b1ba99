/**
 * Per-user policy end to end: a real auth service (Deno.serve, the one of
 * examples/profile_service.ts) answers each login with a JSON profile, and
 * real clients (curl, lftp, python's ftplib, a raw client for exact
 * replies) meet each rule — per-folder permissions, read-only, mounted
 * folders, malformed profiles — on the file, memory and S3 (s3rver)
 * connectors alike.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BasicAuthenticator } from "../../src/auth/basic.ts";
import type { Logger } from "../../src/log.ts";
import { FtpServer } from "../../src/server.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { StorageConnector } from "../../src/storage/types.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { profileService, type ServiceUser } from "../../examples/profile_service.ts";
import { hasCommand } from "../helpers.ts";
import { type S3rver, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { run, type RunResult } from "../integration/_clients.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const missing = ["curl", "lftp", PYTHON].filter((command) => !hasCommand(command));
const bytes = (text: string) => new TextEncoder().encode(text);
const stream = (text: string) => new Blob([text]).stream();

const USERS: Record<string, ServiceUser> = {
  drop: {
    password: "box",
    profile: {
      home: "/drop",
      permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
    },
  },
  carol: {
    password: "archivist",
    profile: {
      home: "/carol",
      folders: [
        { path: "/archive", storage: "archive", read_only: true },
        { path: "/team", storage: "team" },
      ],
      tenant: "t1", // kept for custom connectors
    },
  },
  ro: { password: "pw", profile: { home: "/ro", read_only: true } },
  bad: { password: "pw", profile: { quota_bytes: -1 } },
  ghost: { password: "pw", profile: { folders: [{ path: "/x", storage: "nope" }] } },
};

interface Stores {
  home: StorageConnector;
  archive: StorageConnector;
  team: StorageConnector;
  cleanup(): Promise<void>;
}

const CONNECTORS: { name: string; ignore?: string; open(s3?: S3rver): Promise<Stores> }[] = [
  {
    name: "file",
    async open() {
      const dirs = await Promise.all(
        ["home", "archive", "team"].map((name) => Deno.makeTempDir({ prefix: `exftp-${name}-` })),
      );
      const [home, archive, team] = dirs.map((root) => new FileStorage({ root }));
      return {
        home,
        archive,
        team,
        cleanup: async () => {
          await Promise.all(dirs.map((dir) => Deno.remove(dir, { recursive: true })));
        },
      };
    },
  },
  {
    name: "memory",
    open: () =>
      Promise.resolve({
        home: new MemoryStorage(),
        archive: new MemoryStorage(),
        team: new MemoryStorage(),
        cleanup: () => Promise.resolve(),
      }),
  },
  {
    name: "s3",
    ignore: s3rverUnavailable(),
    open: (s3) =>
      Promise.resolve({
        home: s3!.freshStorage(),
        archive: s3!.freshStorage(),
        team: s3!.freshStorage(),
        cleanup: () => Promise.resolve(),
      }),
  },
];

interface Setup extends AsyncDisposable {
  port: number;
  stores: Stores;
  log: string[];
}

async function setUp(stores: Stores): Promise<Setup> {
  const service = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    profileService(USERS),
  );
  const log: string[] = [];
  const logger: Logger = (level, message, fields) =>
    log.push(JSON.stringify({ level, message, ...fields }));
  const server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    loginFailureDelayMs: 0,
    banAfterFailures: 0,
    logger,
    authenticator: new BasicAuthenticator({
      loginUrl: `http://127.0.0.1:${service.addr.port}/login`,
    }),
    storage: stores.home,
    storages: { archive: stores.archive, team: stores.team },
  });
  const { port } = await server.listen();
  await stores.home.mkdir("/drop").catch(() => {});
  await stores.home.write("/drop/readme.txt", stream("read me\n"));
  await stores.home.mkdir("/drop/incoming").catch(() => {});
  await stores.home.mkdir("/ro").catch(() => {});
  await stores.home.write("/ro/readme.txt", stream("ro\n"));
  await stores.archive.write("/old.txt", stream("old report\n"));
  await stores.team.write("/t.txt", stream("team file\n"));
  return {
    port,
    stores,
    log,
    async [Symbol.asyncDispose]() {
      await server.close();
      await service.shutdown();
      await stores.cleanup();
    },
  };
}

async function content(storage: StorageConnector, path: string): Promise<string | undefined> {
  try {
    return await new Response(await storage.read(path)).text();
  } catch {
    return undefined;
  }
}

function curl(_setup: Setup, user: string, args: string[]): Promise<RunResult> {
  const password = USERS[user].password;
  return run("curl", ["-sS", "-v", "--max-time", "20", "-u", `${user}:${password}`, ...args]);
}

/** The server replies curl -v shows. */
function replies(result: RunResult): string[] {
  return result.stderr.split("\n").filter((l) => l.startsWith("< ")).map((l) => l.slice(2).trim());
}

function lftp(setup: Setup, user: string, script: string, cwd?: string): Promise<RunResult> {
  return run("lftp", [
    "-c",
    [
      "set ftp:ssl-allow no",
      "set net:max-retries 1",
      "set net:timeout 15",
      "set cache:enable no",
      "set cmd:fail-exit yes",
      `open -u ${user},${USERS[user].password} ftp://127.0.0.1:${setup.port}`,
      script,
    ].join("; "),
  ], { cwd });
}

async function ftplib(setup: Setup, body: string): Promise<Record<string, unknown>> {
  const script = `
import ftplib, json, sys
out = {}
def connect(user, password):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", ${setup.port}, timeout=20)
    ftp.login(user, password)
    return ftp
def failure(fn, *args):
    try:
        fn(*args)
    except ftplib.all_errors as error:
        return str(error)
    return None
${body}
print(json.dumps(out))
`;
  const result = await run(PYTHON, ["-c", script]);
  assert.ok(result.success, result.stderr);
  return JSON.parse(result.stdout);
}

for (const connector of CONNECTORS) {
  Deno.test({
    name:
      `per-user policy from a profile service, with real clients, on the ${connector.name} connector`,
    ignore: missing.length > 0 && Deno.env.get("CI") !== "true" ? true : !!connector.ignore,
    async fn(t) {
      const s3 = connector.name === "s3" ? await startS3rver() : undefined;
      try {
        await using setup = await setUp(await connector.open(s3));
        const { home, archive, team } = setup.stores;
        const local = await Deno.makeTempDir({ prefix: "exftp-policy-local-" });
        try {
          const upload = join(local, "up.txt");
          await Deno.writeTextFile(upload, "uploaded\n");

          await t.step(
            "drop box (curl): upload new files below /incoming only; no overwrite, no download there",
            async () => {
              const url = `ftp://127.0.0.1:${setup.port}`;
              const ok = await curl(setup, "drop", ["-T", upload, `${url}/incoming/new.txt`]);
              assert.equal(ok.code, 0, ok.stderr);
              assert.equal(await content(home, "/drop/incoming/new.txt"), "uploaded\n");

              const top = await curl(setup, "drop", ["-T", upload, `${url}/top.txt`]);
              assert.notEqual(top.code, 0);
              assert.ok(
                replies(top).some((r) => /^550 .*no upload permission/.test(r)),
                top.stderr,
              );
              assert.ok(!replies(top).some((r) => r.startsWith("150")), "refused before the 150");
              assert.equal(await content(home, "/drop/top.txt"), undefined);

              await Deno.writeTextFile(upload, "replaced\n");
              const again = await curl(setup, "drop", ["-T", upload, `${url}/incoming/new.txt`]);
              assert.ok(replies(again).some((r) => /^550 .*no overwrite permission/.test(r)));
              assert.equal(await content(home, "/drop/incoming/new.txt"), "uploaded\n");

              const readme = await curl(setup, "drop", [`${url}/readme.txt`]);
              assert.equal(readme.stdout, "read me\n", readme.stderr);
              const hidden = await curl(setup, "drop", [`${url}/incoming/new.txt`]);
              assert.ok(replies(hidden).some((r) => /^550 .*no download permission/.test(r)));
              const del = await curl(setup, "drop", ["-Q", "DELE readme.txt", `${url}/`]);
              assert.ok(replies(del).some((r) => /^550 .*no delete permission/.test(r)));
              assert.equal(await content(home, "/drop/readme.txt"), "read me\n");
            },
          );

          await t.step(
            "raw client: the refusal is the first reply to STOR, and MLSD's perm facts agree",
            async () => {
              using client = await RawFtpClient.connect({
                hostname: "127.0.0.1",
                port: setup.port,
              });
              await client.login("drop", "box");
              const refused = await client.upload("STOR /top.txt", bytes("x"));
              assert.equal(refused.length, 1);
              assert.equal(refused[0].code, 550);
              assert.match(refused[0].text, /no upload permission for "\/top.txt"/);
              const { lines } = await client.listing("MLSD /");
              const incoming = lines.find((line) => line.endsWith(" incoming"));
              assert.match(incoming ?? "", /perm=cel;/);
              assert.match(lines.find((l) => l.endsWith(" readme.txt")) ?? "", /perm=r;/);
              assert.equal((await client.send("RNFR readme.txt")).code, 550);
              assert.equal((await client.send("MKD /incoming/sub")).code, 550);
            },
          );

          await t.step(
            "read_only profile (ftplib): downloads work, every change is 550",
            async () => {
              const out = await ftplib(
                setup,
                `
ftp = connect("ro", "pw")
lines = []
ftp.retrlines("RETR readme.txt", lines.append)
out["readme"] = lines
out["stor"] = failure(ftp.storbinary, "STOR new.txt", __import__("io").BytesIO(b"x"))
out["mkd"] = failure(ftp.mkd, "sub")
out["dele"] = failure(ftp.delete, "readme.txt")
ftp.quit()
`,
              );
              assert.deepEqual(out.readme, ["ro"]);
              for (const key of ["stor", "mkd", "dele"]) {
                assert.match(String(out[key]), /^550 Permission denied: this account is read-only/);
              }
              assert.equal(await content(home, "/ro/new.txt"), undefined);
            },
          );

          await t.step(
            "mounted folders (lftp): listed in /, read-only archive, renames across refused",
            async () => {
              const listing = await lftp(setup, "carol", "cls -1");
              assert.equal(listing.code, 0, listing.stderr);
              assert.deepEqual(listing.stdout.trim().split("\n").sort(), ["archive/", "team/"]);

              const get = await lftp(setup, "carol", "get archive/old.txt -o old.txt", local);
              assert.equal(get.code, 0, get.stderr);
              assert.equal(await Deno.readTextFile(join(local, "old.txt")), "old report\n");

              const put = await lftp(setup, "carol", `put ${upload} -o archive/x.txt`);
              assert.notEqual(put.code, 0);
              assert.match(put.stderr, /550 Permission denied: "\/archive" is read-only/);
              assert.equal(await content(archive, "/x.txt"), undefined);

              const teamPut = await lftp(setup, "carol", `put ${upload} -o team/up.txt`);
              assert.equal(teamPut.code, 0, teamPut.stderr);
              assert.equal(await content(team, "/up.txt"), "replaced\n");

              const across = await lftp(setup, "carol", "mv team/t.txt moved.txt");
              assert.notEqual(across.code, 0);
              assert.match(across.stderr, /550 Can't move across mounted folders/);
              assert.equal(await content(team, "/t.txt"), "team file\n");

              const inside = await lftp(setup, "carol", "mv team/t.txt team/t2.txt");
              assert.equal(inside.code, 0, inside.stderr);
              assert.equal(await content(team, "/t2.txt"), "team file\n");

              const rmdir = await lftp(setup, "carol", "rmdir team");
              assert.notEqual(rmdir.code, 0);
              assert.match(rmdir.stderr, /550 .*mounted folder/);
              const rename = await lftp(setup, "carol", "mv team crew");
              assert.notEqual(rename.code, 0);
              assert.match(rename.stderr, /550 .*mounted folder/);
            },
          );

          await t.step(
            "malformed profiles (ftplib): the login is refused, the log names the field",
            async () => {
              const out = await ftplib(
                setup,
                `
out["bad"] = failure(connect, "bad", "pw")
out["ghost"] = failure(connect, "ghost", "pw")
`,
              );
              assert.match(String(out.bad), /^530 /);
              assert.match(String(out.ghost), /^530 /);
              const text = setup.log.join("\n");
              assert.match(text, /malformed profile.*"field":"quota_bytes"/);
              assert.match(text, /"field":"folders\[0\]\.storage".*no storage \\"nope\\"/);
            },
          );
        } finally {
          await Deno.remove(local, { recursive: true });
        }
      } finally {
        await s3?.[Symbol.asyncDispose]();
      }
    },
  });
}
