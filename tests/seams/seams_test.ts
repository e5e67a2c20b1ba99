/**
 * Seams between features merged in parallel (issues 13–16): what each one
 * alone tested but their composition broke. In-process, through the command
 * harness, with the user's storage composed from a profile as at login.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Authenticator, FtpUser } from "../../src/auth/types.ts";
import { FailoverState, type ProbedState } from "../../src/cluster/failover.ts";
import { MemoryState } from "../../src/cluster/state.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { commandHarness } from "../../src/testing/harness.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { startServer } from "../helpers.ts";
import { countingReads } from "../checksums/_fixtures.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("HASH of a fresh upload reads nothing under a quota, a bandwidth limit and in a mounted folder", async () => {
  const home = countingReads(new MemoryStorage());
  const archive = countingReads(new MemoryStorage());
  const user: FtpUser = {
    username: "alice",
    quotaBytes: 1_000_000,
    downloadBytesPerS: 1_000_000,
    folders: [{ path: "/archive", storage: "archive" }],
  };
  await using h = commandHarness({
    storage: home,
    user,
    options: { storages: { archive }, uploadChecksums: ["SHA-256", "CRC32"] },
  });
  for (const path of ["/home.txt", "/archive/mounted.txt"]) {
    assert.equal((await h.transfer(`STOR ${path}`, `bytes of ${path}`)).code, 226);
    const reply = await h.run(`HASH ${path}`);
    assert.equal(reply.code, 213, reply.text);
    assert.equal(reply.text.split(" ")[2], sha256(`bytes of ${path}`));
  }
  // The checksums kept by the uploads answered: no byte was read back.
  assert.deepEqual([home.reads, archive.reads], [0, 0]);
});

Deno.test("an upload stopped by the quota (552) is a failed upload event without checksums, and nothing stays", async () => {
  const storage = new MemoryStorage();
  await using h = commandHarness({ storage, user: { username: "bob", quotaBytes: 1000 } });
  const reply = await h.transfer("STOR big.bin", new Uint8Array(5000));
  assert.equal(reply.code, 552, reply.text);
  await assert.rejects(storage.stat("/big.bin"));
  const uploads = h.events.filter((e) => e.type.startsWith("transfer-"));
  assert.equal(uploads.length, 1);
  const detail = uploads[0].detail as { outcome: string; checksums?: unknown; path: string };
  assert.deepEqual([uploads[0].type, detail.outcome, detail.checksums, detail.path], [
    "transfer-failed",
    "failed",
    undefined,
    "/big.bin",
  ]);
  assert.match((await h.run("SITE QUOTA")).lines.join("\n"), /Bytes used: 0 of 1000/);
});

Deno.test("STOR and STOU refused by before_upload (553) reserve no quota and keep nothing", async () => {
  await using service = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("no uploads today", { status: 403 }),
  );
  const storage = countingReads(new MemoryStorage());
  await using h = commandHarness({
    storage,
    user: { username: "carol", quotaBytes: 1000, quotaFiles: 1 },
    options: {
      events: {
        secret: "s",
        beforeUploadUrl: `http://127.0.0.1:${service.addr.port}/`,
      },
    },
  });
  for (const command of ["STOR a.txt", "STOU b.txt"]) {
    const reply = await h.transfer(command, "hello");
    assert.equal(reply.code, 553, `${command}: ${reply.text}`);
  }
  assert.deepEqual(await Array.fromAsync(storage.list("/")), []);
  // The one file the quota allows is still free, and no byte is counted.
  const site = (await h.run("SITE QUOTA")).lines.join("\n");
  assert.match(site, /Bytes used: 0 of 1000/, site);
  assert.match(site, /Files used: 0 of 1\b/, site);
});

/** A shared store that can be switched off: every call and ping rejects while it is down. */
class SwitchableStore extends MemoryState implements ProbedState {
  down = false;
  constructor() {
    super();
    const self = this as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of ["reserve", "readCounter", "writeCounter", "acquireSlot", "releaseSlot"]) {
      const method = self[name].bind(this);
      self[name] = (...args) =>
        this.down ? Promise.reject(new Error("connection refused")) : method(...args);
    }
  }
  override get mode() {
    return "shared" as const;
  }
  ping() {
    return this.down ? Promise.reject(new Error("connection refused")) : Promise.resolve();
  }
}

Deno.test({
  name:
    "quota while the shared state is degraded: usage is not forgotten (local state starts at 0)",
  // FailoverState switches to a fresh MemoryState, where the quota counters are
  // missing; QuotaAccount used to count once and never again, so while degraded
  // a user was measured from 0 and could store a whole extra quota. It now walks
  // the home again whenever the state moved.
  async fn() {
    const store = new SwitchableStore();
    const state = new FailoverState(store, { probeEveryMs: 60_000 });
    await state.start(100);
    try {
      const storage = new MemoryStorage();
      await using h = commandHarness({
        storage,
        user: { username: "dave", quotaBytes: 1000 },
        options: { sharedState: state },
      });
      assert.equal((await h.transfer("STOR a.bin", new Uint8Array(900))).code, 226);
      store.down = true;
      const second = await h.transfer("STOR b.bin", new Uint8Array(900));
      assert.equal(state.mode, "degraded");
      assert.equal(second.code, 552, "900 + 900 bytes over a 1000-byte quota");
      assert.match((await h.run("SITE QUOTA")).lines.join("\n"), /Bytes used: 900 of 1000/);
    } finally {
      await state.close();
    }
  },
});

Deno.test("a login refused for a profile the config can't serve gives its user session slot back", async () => {
  // `u` may hold one session; with password "bad" the profile mounts a storage the
  // config lacks (530). The refused login used to keep u's slot until its connection
  // closed, so u's next login elsewhere got 421.
  const authenticator: Authenticator = {
    authenticate: ({ username, password }) =>
      Promise.resolve({
        username,
        maxSessions: 1,
        folders: password === "bad" ? [{ path: "/x", storage: "missing" }] : [],
      }),
  };
  await using ts = await startServer({ authenticator });
  using first = await RawFtpClient.connect(ts.addr);
  assert.equal((await first.send("USER u")).code, 331);
  assert.equal((await first.send("PASS bad")).code, 530);
  using second = await RawFtpClient.connect(ts.addr);
  assert.equal((await second.send("USER u")).code, 331);
  assert.equal((await second.send("PASS good")).code, 230, "u's slot was kept by a refused login");
});
