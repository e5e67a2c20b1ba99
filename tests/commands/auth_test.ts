import assert from "node:assert/strict";
import type { Authenticator, FtpUser } from "../../mod.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { startServer } from "../helpers.ts";
import { test } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

test("a user's home becomes their root, created on login, and cannot be left", async () => {
  const auth: Authenticator = {
    authenticate: ({ username }) =>
      Promise.resolve({ username, home: `/homes/${username}/../${username}` }),
  };
  await using ts = await folderHarness({ authenticator: auth });
  await Deno.writeTextFile(`${ts.root}/top-secret.txt`, "no");
  const h = ts.session("ann");
  assert.equal((await h.run("PWD")).text, '"/" is the current directory');
  await h.run("TYPE I");
  await h.transfer("STOR a.txt", new TextEncoder().encode("mine"));
  assert.equal(await Deno.readTextFile(`${ts.root}/homes/ann/a.txt`), "mine");
  assert.equal((await h.run("SIZE ../../top-secret.txt")).code, 550);
  assert.deepEqual((await h.listing("NLST /")).lines, ["/a.txt"]);
  assert.equal((await h.run("RMD /")).code, 550);
});

test("re-validation: a revoked user is cut off with 421; state is per session", async () => {
  const valid = new Set(["alice"]);
  let checks = 0;
  const auth: Authenticator = {
    authenticate: ({ username, password }) =>
      Promise.resolve(password === "pw" ? { username } as FtpUser : null),
    isStillValid(user) {
      checks++;
      return Promise.resolve(valid.has(user.username));
    },
    revalidateEveryMs: 0,
  };
  await using ts = await startServer({ authenticator: auth });
  using alice = await RawFtpClient.connect(ts.addr);
  await alice.login("alice", "pw");
  assert.equal((await alice.send("PWD")).code, 257);
  assert.ok(checks >= 1);

  // Another connection naming alice without her password is not let in.
  using intruder = await RawFtpClient.connect(ts.addr);
  assert.equal((await intruder.send("USER alice")).code, 331);
  assert.equal((await intruder.send("PWD")).code, 530);
  assert.equal((await intruder.send("PASS wrong")).code, 530);
  assert.equal((await intruder.send("PWD")).code, 530);

  valid.delete("alice");
  assert.equal((await alice.send("PWD")).code, 421);
  assert.ok(await alice.closedByServer());
});

test("re-validation is asked at most once per interval", async () => {
  let checks = 0;
  const auth: Authenticator = {
    authenticate: ({ username }) => Promise.resolve({ username }),
    isStillValid() {
      checks++;
      return Promise.resolve(true);
    },
    revalidateEveryMs: 60_000,
  };
  await using ts = await folderHarness({ authenticator: auth });
  const h = ts.session();
  for (let i = 0; i < 5; i++) await h.run("PWD");
  assert.equal(checks, 0, "just logged in: still fresh");
});

test("an authenticator that throws counts as a refusal, never a crash", async () => {
  const auth: Authenticator = { authenticate: () => Promise.reject(new Error("backend down")) };
  await using ts = await folderHarness({ authenticator: auth, maxLoginFailures: 5 });
  const h = ts.session(null);
  await h.run("USER a");
  assert.equal((await h.run("PASS b")).code, 530);
  assert.equal((await h.run("NOOP")).code, 200);
});
