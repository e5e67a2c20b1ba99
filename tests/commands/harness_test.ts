/** The in-process command harness itself: what it promises to the tests built on it. */

import assert from "node:assert/strict";
import { MemoryStorage } from "../../mod.ts";
import { commandHarness } from "../../src/testing/mod.ts";
import { test } from "../deadline.ts";

test("the harness greets, logs in, and runs a command through the pipeline", async () => {
  await using h = commandHarness({ storage: new MemoryStorage(), user: "alice" });
  assert.equal((await h.greeting()).code, 220);
  const mkd = await h.run("MKD x");
  assert.deepEqual([mkd.code, mkd.text], [257, '"/x" created']);
  assert.deepEqual(mkd.replies.map((r) => r.code), [257]);
  assert.equal((await h.run("FOO")).code, 500);
  // MKD is a file operation with an event (the "mkdir" webhook).
  assert.deepEqual(h.events.map((e) => e.type), ["login", "transfer-complete"]);
});

test("without a user the session is not logged in", async () => {
  await using h = commandHarness({ storage: new MemoryStorage() });
  assert.equal((await h.run("PWD")).code, 530);
  assert.equal((await h.run("USER bob")).code, 331);
  assert.equal((await h.run("PASS any")).code, 230);
  assert.equal((await h.run("PWD")).code, 257);
});

test("transfers run over an in-memory passive connection, byte-exact", async () => {
  await using h = commandHarness({ storage: new MemoryStorage(), user: "alice" });
  const bytes = crypto.getRandomValues(new Uint8Array(60_000));
  assert.equal((await h.run("TYPE I")).code, 200);
  const stor = await h.transfer("STOR a.bin", bytes);
  assert.deepEqual(stor.replies.map((r) => r.code), [150, 226]);
  const retr = await h.transfer("RETR a.bin");
  assert.deepEqual(retr.replies.map((r) => r.code), [150, 226]);
  assert.deepEqual(retr.data, bytes);
  assert.deepEqual((await h.listing("NLST")).lines, ["a.bin"]);
  assert.deepEqual(
    h.events.map((e) => `${e.type} ${"command" in e.detail ? e.detail.command : ""}`),
    ["login ", "transfer-complete STOR", "transfer-complete RETR", "transfer-complete NLST"],
  );
});

test("a transfer without EPSV is 425, as over a socket; run() after EPSV connects it", async () => {
  await using h = commandHarness({ storage: new MemoryStorage(), user: "alice" });
  assert.equal((await h.run("RETR nothing")).code, 550);
  assert.equal((await h.run("LIST")).code, 425);
  assert.match((await h.run("EPSV")).text, /^Entering Extended Passive Mode \(\|\|\|\d+\|\)$/);
  assert.deepEqual((await h.run("LIST")).replies.map((r) => r.code), [150, 226]);
});

test("a passive connection never made times out with 425 after 150", async () => {
  await using h = commandHarness({
    storage: new MemoryStorage(),
    user: "alice",
    options: { passiveAcceptTimeoutMs: 50 },
  });
  await h.run("EPSV");
  await h.write("LIST\r\n");
  assert.equal((await h.read()).code, 150);
  assert.equal((await h.read()).code, 425);
});

test("a user object is what the default authenticator returns (read-only here)", async () => {
  await using h = commandHarness({
    storage: new MemoryStorage(),
    user: { username: "ro", readOnly: true },
  });
  assert.equal((await h.run("MKD x")).code, 550);
  assert.equal((await h.transfer("STOR a", "x")).code, 550);
});

test("QUIT ends the session; close() after it is harmless", async () => {
  const h = commandHarness({ storage: new MemoryStorage(), user: "alice" });
  assert.equal((await h.run("QUIT")).code, 221);
  await h.ended;
  await h.close();
});
