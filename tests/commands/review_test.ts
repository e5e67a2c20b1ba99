/** Regressions found in review: each test names the behaviour that was wrong. */

import assert from "node:assert/strict";
import { randomBytes, startServer } from "../helpers.ts";
import { test } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

test("ABOR behind a queued command still stops the transfer; replies keep command order", async () => {
  await using ts = await startServer();
  await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(48 * 1024 * 1024));
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("RETR big.bin")).code, 150);
  await data.read(new Uint8Array(1024)); // running; we stop reading so it blocks
  await client.write("NOOP\r\nABOR\r\n");
  const codes = [
    (await client.read()).code,
    (await client.read()).code,
    (await client.read()).code,
  ];
  assert.deepEqual(codes, [426, 200, 226]);
  data.close();
  assert.equal((await client.send("PWD")).code, 257);
});

test("a refused command (500, 501) also ends a pending RNFR", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "a");
  const h = ts.session();
  assert.equal((await h.run("RNFR a.txt")).code, 350);
  assert.equal((await h.run("FOO")).code, 500);
  assert.equal((await h.run("RNTO b.txt")).code, 503);
  assert.equal((await h.run("RNFR a.txt")).code, 350);
  assert.equal((await h.run("DELE")).code, 501);
  assert.equal((await h.run("RNTO b.txt")).code, 503);
});

test("no setuid/setgid bits: SITE CHMOD refuses them and an overwrite drops them", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/s.bin`, "old");
  await Deno.chmod(`${ts.root}/s.bin`, 0o6755);
  const h = ts.session();
  assert.equal((await h.run("SITE CHMOD 6755 s.bin")).code, 501);
  assert.equal((await h.run("SITE CHMOD 0640 s.bin")).code, 200);
  await Deno.chmod(`${ts.root}/s.bin`, 0o6755);
  await h.run("TYPE I");
  await h.transfer("STOR s.bin", new TextEncoder().encode("new"));
  assert.equal((await Deno.stat(`${ts.root}/s.bin`)).mode! & 0o7777, 0o755);
});

test("an event listener that throws is logged; the server goes on", async () => {
  const lines: string[] = [];
  await using ts = await startServer({ logger: (_level, message) => lines.push(message) });
  ts.server.addEventListener("login", () => {
    throw new Error("listener bug");
  });
  const client = await ts.client();
  assert.equal((await client.send("PWD")).code, 257);
  assert.ok(lines.some((l) => l.includes('"login" listener threw')));
});

test("TYPE, MODE, STRU, ABOR and STAT need a login; HOST after USER is 503", async () => {
  await using ts = await folderHarness();
  const h = ts.session(null);
  for (const command of ["TYPE I", "MODE S", "STRU F", "ABOR", "STAT"]) {
    assert.equal((await h.run(command)).code, 530, command);
  }
  await h.run("USER u");
  assert.equal((await h.run("HOST example.com")).code, 503);
});

test("REST then TYPE A cannot resume in ASCII mode", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/t.txt`, "line\n");
  const h = ts.session();
  await h.run("TYPE I");
  assert.equal((await h.run("REST 3")).code, 350);
  await h.run("TYPE A");
  assert.deepEqual((await h.transfer("RETR t.txt")).replies.map((r) => r.code), [501]);
});
