/**
 * Quotas with real clients (curl uploads, a raw client for SITE QUOTA, AVBL
 * and DELE), profiles from a real HTTP auth service (Basic, JSON answer), on
 * the file, memory and S3 (s3rver) connectors: uploads over a
 * limit end in 552 and leave nothing, with no size announced in advance and
 * with several sessions racing for the last bytes; overwrites, APPE, deletes
 * and renames keep the usage right; the usage is computed from what is stored.
 */

import assert from "node:assert/strict";
import {
  type Authenticator,
  type Credentials,
  FileStorage,
  type FtpUser,
  MemoryStorage,
  type StorageConnector,
} from "../../mod.ts";
import { S3Storage } from "../../src/storage/s3/mod.ts";
import { BasicAuthenticator } from "../../src/auth/basic.ts";
import type { RawFtpClient } from "../../src/testing/raw_client.ts";
import { commandHarness } from "../../src/testing/harness.ts";
import { MemoryState } from "../../src/cluster/state.ts";
import { hasCommand, randomBytes, startServer, type TestServer } from "../helpers.ts";
import { run, type RunResult, tempDir } from "../integration/_clients.ts";
import { s3rverClient, s3rverUnavailable, startS3rver } from "../s3rver.ts";

const KIB = 1024;
const noCurl = !hasCommand("curl");

/** Users and their profiles, as an auth service would answer them. */
class ProfileAuthenticator implements Authenticator {
  readonly #profiles: Record<string, Omit<FtpUser, "username">>;
  constructor(profiles: Record<string, Omit<FtpUser, "username">>) {
    this.#profiles = profiles;
  }
  authenticate({ username }: Credentials): Promise<FtpUser | null> {
    const profile = Object.hasOwn(this.#profiles, username) ? this.#profiles[username] : null;
    return Promise.resolve(profile ? { username, home: `/${username}`, ...profile } : null);
  }
}

const PROFILES = {
  alice: { quotaBytes: 256 * KIB, quotaFiles: 4 },
  bob: { maxUploadBytes: 64 * KIB },
  carol: { quotaBytes: 1024 * KIB },
  dave: { quotaBytes: 100 * KIB },
};

interface Fixture {
  ts: TestServer;
  storage: StorageConnector;
  local: string;
}

async function curlUpload(
  f: Fixture,
  user: string,
  path: string,
  bytes: Uint8Array,
  extra: string[] = [],
) {
  const file = `${f.local}/${crypto.randomUUID()}`;
  await Deno.writeFile(file, bytes);
  return await run("curl", [
    "-sS",
    "-T",
    file,
    ...extra,
    `ftp://${user}:pw@127.0.0.1:${f.ts.addr.port}${path}`,
  ]);
}

/** curl exits with 70, "Exceeded storage allocation", when the upload got 552. */
function assertExceeded(result: RunResult): void {
  assert.equal(result.code, 70, `curl: ${result.stderr}`);
}

async function client(f: Fixture, user: string): Promise<RawFtpClient> {
  return await f.ts.client(user);
}

async function siteQuota(f: Fixture, user: string): Promise<{ bytes: number; files: number }> {
  const c = await client(f, user);
  const reply = await c.send("SITE QUOTA");
  c.close();
  assert.equal(reply.code, 200, reply.lines.join("\n"));
  const text = reply.lines.join("\n");
  return {
    bytes: Number(/Bytes used: (\d+)/.exec(text)![1]),
    files: Number(/Files used: (\d+)/.exec(text)![1]),
  };
}

async function sizeOf(f: Fixture, path: string): Promise<number | undefined> {
  try {
    return (await f.storage.stat(path)).size;
  } catch {
    return undefined;
  }
}

async function quotaSteps(t: Deno.TestContext, f: Fixture) {
  const first = randomBytes(100 * KIB);

  await t.step(
    "an upload that fits is stored and counted; SITE QUOTA and AVBL say so",
    async () => {
      const result = await curlUpload(f, "alice", "/a.bin", first);
      assert.ok(result.success, result.stderr);
      assert.deepEqual(await siteQuota(f, "alice"), { bytes: 100 * KIB, files: 1 });
      const c = await client(f, "alice");
      const feat = await c.send("FEAT");
      assert.ok(feat.lines.some((line) => line.trim() === "AVBL"), feat.lines.join("\n"));
      assert.deepEqual((await c.send("AVBL")).lines, [`213 ${156 * KIB}`]);
      c.close();
    },
  );

  await t.step(
    "an upload over the quota, its size unknown, ends in 552 and leaves nothing",
    async () => {
      const result = await curlUpload(f, "alice", "/b.bin", randomBytes(200 * KIB));
      assertExceeded(result);
      assert.equal(await sizeOf(f, "/alice/b.bin"), undefined);
      assert.deepEqual(await siteQuota(f, "alice"), { bytes: 100 * KIB, files: 1 });
    },
  );

  await t.step("an overwrite counts only the growth", async () => {
    const result = await curlUpload(f, "alice", "/a.bin", randomBytes(150 * KIB));
    assert.ok(result.success, result.stderr);
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 150 * KIB, files: 1 });
  });

  await t.step("APPE counts what it adds; one over the quota keeps the previous file", async () => {
    let result = await curlUpload(f, "alice", "/a.bin", randomBytes(50 * KIB), ["--append"]);
    assert.ok(result.success, result.stderr);
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 200 * KIB, files: 1 });
    result = await curlUpload(f, "alice", "/a.bin", randomBytes(60 * KIB), ["--append"]);
    assertExceeded(result);
    assert.equal(await sizeOf(f, "/alice/a.bin"), 200 * KIB);
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 200 * KIB, files: 1 });
  });

  await t.step("deleting frees the file's bytes; the file quota stops the fifth file", async () => {
    const c = await client(f, "alice");
    assert.equal((await c.send("DELE a.bin")).code, 250);
    c.close();
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 0, files: 0 });
    for (const name of ["1", "2", "3", "4"]) {
      const result = await curlUpload(f, "alice", `/${name}.txt`, randomBytes(KIB));
      assert.ok(result.success, result.stderr);
    }
    const result = await curlUpload(f, "alice", "/5.txt", randomBytes(KIB));
    assertExceeded(result);
    assert.equal(await sizeOf(f, "/alice/5.txt"), undefined);
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 4 * KIB, files: 4 });
  });

  await t.step("renaming over a file frees the file it replaced", async () => {
    const c = await client(f, "alice");
    assert.equal((await c.send("RNFR 1.txt")).code, 350);
    assert.equal((await c.send("RNTO 2.txt")).code, 250);
    c.close();
    assert.deepEqual(await siteQuota(f, "alice"), { bytes: 3 * KIB, files: 3 });
  });

  await t.step(
    "max_upload_bytes stops a larger file with 552; one at the limit is stored",
    async () => {
      let result = await curlUpload(f, "bob", "/big.bin", randomBytes(64 * KIB + 1));
      assertExceeded(result);
      assert.equal(await sizeOf(f, "/bob/big.bin"), undefined);
      result = await curlUpload(f, "bob", "/ok.bin", randomBytes(64 * KIB));
      assert.ok(result.success, result.stderr);
      const c = await client(f, "bob");
      const feat = await c.send("FEAT");
      assert.ok(!feat.lines.some((line) => line.trim() === "AVBL"), "no byte quota: no AVBL");
      assert.equal((await c.send("AVBL")).code, 502);
      c.close();
    },
  );

  await t.step("three sessions racing for the last bytes: two fit, one gets 552", async () => {
    const uploads = await Promise.all(
      ["r1", "r2", "r3"].map((name) =>
        curlUpload(f, "carol", `/${name}.bin`, randomBytes(400 * KIB), ["--limit-rate", "2M"])
      ),
    );
    const stored = uploads.filter((r) => r.success).length;
    assert.equal(stored, 2, uploads.map((r) => r.stderr).join("\n"));
    assertExceeded(uploads.find((r) => !r.success)!);
    const sizes = await Promise.all(["r1", "r2", "r3"].map((n) => sizeOf(f, `/carol/${n}.bin`)));
    assert.deepEqual(sizes.filter((s) => s !== undefined), [400 * KIB, 400 * KIB]);
    assert.deepEqual(await siteQuota(f, "carol"), { bytes: 800 * KIB, files: 2 });
  });

  await t.step("usage is computed at first need from what is stored", async () => {
    await f.storage.mkdir("/dave").catch(() => {});
    await f.storage.mkdir("/dave/sub").catch(() => {});
    await f.storage.write(
      "/dave/sub/old.bin",
      new Blob([randomBytes(90 * KIB) as Uint8Array<ArrayBuffer>]).stream(),
    );
    assert.deepEqual(await siteQuota(f, "dave"), { bytes: 90 * KIB, files: 1 });
    const result = await curlUpload(f, "dave", "/new.bin", randomBytes(20 * KIB));
    assertExceeded(result);
  });
}

/**
 * A real HTTP auth service answering Basic logins with the user's profile as
 * JSON (snake_case, as the README documents it): the connector suites get
 * their quotas the way a deployment does.
 */
function profileService(): { url: string } & AsyncDisposable {
  const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const basic = /^Basic (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    const username = basic ? atob(basic).split(":")[0] : "";
    if (!Object.hasOwn(PROFILES, username)) return new Response("no", { status: 401 });
    const profile = PROFILES[username as keyof typeof PROFILES];
    return Response.json({
      username,
      home: `/${username}`,
      ...Object.fromEntries(Object.entries(profile).map(([k, v]) => [snake(k), v])),
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/login`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function withFixture(
  storage: StorageConnector,
  body: (f: Fixture) => Promise<void>,
): Promise<void> {
  await using service = profileService();
  await using ts = await startServer({
    storage,
    authenticator: new BasicAuthenticator({ loginUrl: service.url }),
  });
  await using local = await tempDir();
  await body({ ts, storage, local: local.path });
}

Deno.test({
  name: "Quotas over the file connector (curl)",
  ignore: noCurl,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "exftp-quota-" });
    try {
      await withFixture(new FileStorage({ root }), (f) => quotaSteps(t, f));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "Quotas over the memory connector (curl)",
  ignore: noCurl,
  async fn(t) {
    await withFixture(new MemoryStorage(), (f) => quotaSteps(t, f));
  },
});

const s3Unavailable = s3rverUnavailable();
Deno.test({
  name: `Quotas over the s3 connector (s3rver, curl)${
    s3Unavailable ? ` (ignored: ${s3Unavailable})` : ""
  }`,
  ignore: noCurl || s3Unavailable !== undefined,
  async fn(t) {
    await using s3 = await startS3rver();
    const client = s3rverClient(s3);
    try {
      const storage = new S3Storage({ bucket: s3.bucket, prefix: "quota", client });
      await withFixture(storage, (f) => quotaSteps(t, f));
    } finally {
      client.destroy();
    }
  },
});

Deno.test("AVBL and SITE QUOTA: replies, refusals and HELP (in-process harness)", async () => {
  const storage = new MemoryStorage();
  await storage.mkdir("/eve");
  await storage.write("/eve/a.txt", new Blob(["12345"]).stream());
  const eve: FtpUser = { username: "eve", home: "/eve", quotaBytes: 1000, quotaFiles: 10 };
  {
    await using session = commandHarness({ storage, user: eve });
    assert.deepEqual((await session.run("AVBL")).lines, ["213 995"]);
    assert.deepEqual((await session.run("AVBL /")).lines, ["213 995"]);
    assert.equal((await session.run("AVBL a.txt")).code, 550);
    assert.equal((await session.run("AVBL /missing")).code, 550);
    assert.deepEqual((await session.run("SITE QUOTA")).lines, [
      "200-Quota of eve:",
      " Bytes used: 5 of 1000 (995 available)",
      " Files used: 1 of 10",
      "200 End",
    ]);
    assert.ok((await session.run("SITE HELP")).lines.includes(" SITE QUOTA"));
    assert.ok((await session.run("HELP")).lines.join(" ").includes("AVBL"));
    // A text upload over the quota (TYPE A converts; the bytes stored count).
    const upload = await session.transfer("STOR big.txt", "x".repeat(996));
    assert.equal(upload.code, 552);
    await assert.rejects(storage.stat("/eve/big.txt"));
  }
  {
    await using session = commandHarness({ storage });
    assert.equal((await session.run("AVBL")).code, 530);
    assert.ok(!(await session.run("FEAT")).lines.some((line) => line.trim() === "AVBL"));
  }
  {
    await using session = commandHarness({ storage, user: "frank" });
    assert.equal((await session.run("AVBL")).code, 502);
    assert.deepEqual((await session.run("SITE QUOTA")).lines, [
      "200 No quota applies to this account",
    ]);
  }
});

Deno.test("With upload_mode atomic_resume, what stays of an upload stopped by the quota is counted", async () => {
  const root = await Deno.makeTempDir({ prefix: "exftp-quota-resume-" });
  try {
    const storage = new FileStorage({ root, uploadMode: "atomic_resume" });
    const user: FtpUser = { username: "gina", home: "/gina", quotaBytes: 64 * KIB };
    await using session = commandHarness({ storage, user });
    assert.equal((await session.run("TYPE I")).code, 200);
    const upload = await session.transfer("STOR part.bin", randomBytes(100 * KIB));
    assert.equal(upload.code, 552);
    const kept = (await storage.stat("/gina/part.bin")).size;
    // What fitted (here, the stream came in one piece: an empty file) stays for REST.
    assert.ok(kept <= 64 * KIB, `kept ${kept} bytes`);
    const quota = (await session.run("SITE QUOTA")).lines.join("\n");
    assert.match(quota, new RegExp(`Bytes used: ${kept} of ${64 * KIB}`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("REST + STOR counts only what grows past the previous end", async () => {
  const storage = new MemoryStorage();
  await storage.mkdir("/hal");
  await storage.write("/hal/r.bin", new Blob(["0123456789"]).stream());
  const user: FtpUser = { username: "hal", home: "/hal", quotaBytes: 100 };
  await using session = commandHarness({ storage, user });
  assert.equal((await session.run("TYPE I")).code, 200);
  assert.equal((await session.run("REST 5")).code, 350);
  assert.equal((await session.transfer("STOR r.bin", "abcdefghij")).code, 226);
  assert.equal((await storage.stat("/hal/r.bin")).size, 15);
  assert.deepEqual((await session.run("AVBL")).lines, ["213 85"]);
  assert.equal((await session.run("REST 15")).code, 350);
  assert.equal((await session.transfer("STOR r.bin", "x".repeat(86))).code, 552);
  assert.equal((await storage.stat("/hal/r.bin")).size, 15);
  assert.deepEqual((await session.run("AVBL")).lines, ["213 85"]);
});

Deno.test({
  name: "Two nodes sharing state and storage: racing uploads can't both take the last bytes",
  ignore: noCurl,
  async fn() {
    const storage = new MemoryStorage();
    const sharedState = new MemoryState();
    const authenticator = new ProfileAuthenticator(PROFILES);
    await using a = await startServer({ storage, sharedState, authenticator });
    await using b = await startServer({ storage, sharedState, authenticator });
    await using local = await tempDir();
    const nodes = [a, b, a];
    const uploads = await Promise.all(
      nodes.map((ts, i) =>
        curlUpload(
          { ts, storage, local: local.path },
          "carol",
          `/n${i}.bin`,
          randomBytes(400 * KIB),
        )
      ),
    );
    assert.equal(uploads.filter((r) => r.success).length, 2, uploads.map((r) => r.stderr).join());
    assertExceeded(uploads.find((r) => !r.success)!);
    const f = { ts: b, storage, local: local.path };
    assert.deepEqual(await siteQuota(f, "carol"), { bytes: 800 * KIB, files: 2 });
    assert.deepEqual(await siteQuota({ ...f, ts: a }, "carol"), { bytes: 800 * KIB, files: 2 });
  },
});

Deno.test("STOU with the file quota reached: 552 before the data connection", async () => {
  const storage = new MemoryStorage();
  const user: FtpUser = { username: "ida", home: "/ida", quotaFiles: 0 };
  await using session = commandHarness({ storage, user });
  const reply = await session.transfer("STOU");
  assert.equal(reply.code, 552);
  assert.deepEqual(await Array.fromAsync(storage.list("/ida")), []);
});
