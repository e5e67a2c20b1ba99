import assert from "node:assert/strict";
import { NoAuthAuthenticator } from "../../mod.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { startServer, waitFor } from "../helpers.ts";
import { test } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

test("greeting names the server and login follows 331/230", async () => {
  await using ts = await folderHarness({ serverName: "unit-ftp" });
  const h = ts.session(null);
  assert.deepEqual((await h.greeting()).lines, ["220 Hello from unit-ftp."]);
  assert.equal((await h.run("USER alice")).code, 331);
  assert.equal((await h.run("PASS x")).code, 230);
  assert.equal((await h.run("USER bob")).code, 503);
});

test("commands that need a login get 530 before it; pre-login commands work", async () => {
  await using ts = await folderHarness();
  const h = ts.session(null);
  for (const command of ["PWD", "CWD /", "LIST", "RETR a", "STOR a", "MKD x", "PASV", "SIZE a"]) {
    assert.equal((await h.run(command)).code, 530, command);
  }
  assert.equal((await h.run("SYST")).code, 215);
  assert.equal((await h.run("NOOP")).code, 200);
  assert.equal((await h.run("OPTS UTF8 ON")).code, 200);
  const feat = await h.run("FEAT");
  assert.equal(feat.code, 211);
  assert.equal(feat.lines[0], "211-Features:");
  assert.equal(feat.lines.at(-1), "211 End");
  for (const feature of [" EPSV", " EPRT", " SIZE", " UTF8", " REST STREAM", " MDTM"]) {
    assert.ok(feat.lines.includes(feature), `FEAT lists ${feature}`);
  }
});

test("passthrough refuses root and an empty name; PASS without USER is 503", async () => {
  await using ts = await folderHarness({ maxLoginFailures: 10 });
  const h = ts.session(null);
  assert.equal((await h.run("PASS x")).code, 503);
  await h.run("USER ROOT");
  assert.equal((await h.run("PASS x")).code, 530);
  await h.run("USER");
  assert.equal((await h.run("PASS x")).code, 530);
});

test("no_auth accepts any or no credentials", async () => {
  await using ts = await folderHarness({ authenticator: new NoAuthAuthenticator() });
  const h = ts.session(null);
  assert.equal((await h.run("USER")).code, 331);
  assert.equal((await h.run("PASS")).code, 230);
});

test("the session closes with 421 after max failed logins", async () => {
  await using ts = await folderHarness({ maxLoginFailures: 2 });
  const h = ts.session(null);
  await h.run("USER root");
  assert.equal((await h.run("PASS x")).code, 530);
  await h.run("USER root");
  assert.equal((await h.run("PASS x")).code, 421);
  await h.ended;
});

test("a failed login is delayed", async () => {
  await using ts = await startServer({ loginFailureDelayMs: 200 });
  using client = await RawFtpClient.connect(ts.addr);
  await client.send("USER root");
  const started = Date.now();
  assert.equal((await client.send("PASS x")).code, 530);
  assert.ok(Date.now() - started >= 190);
});

test("unknown verbs get 500, verbs are case-insensitive, bad arguments 501", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("FOO bar")).code, 500);
  assert.equal((await h.run("pwd")).code, 257);
  assert.equal((await h.run("PwD")).code, 257);
  assert.equal((await h.run("CWD")).code, 501);
  assert.equal((await h.run("PWD extra")).code, 501);
  assert.equal((await h.run("TYPE X")).code, 504);
  assert.equal((await h.run("TYPE L 8")).code, 200);
  assert.equal((await h.run("MODE S")).code, 200);
  assert.equal((await h.run("MODE B")).code, 504);
  assert.equal((await h.run("STRU F")).code, 200);
  assert.equal((await h.run("STRU R")).code, 504);
});

test("a 10 KiB command line gets 500 and the session stays usable", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  const reply = await h.run("NOOP " + "x".repeat(10 * 1024));
  assert.equal(reply.code, 500);
  assert.match(reply.text, /too long/);
  assert.equal((await h.run("NOOP")).code, 200);
});

test("lines split across segments, several per segment, bare LF and lone CR all parse", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  await client.write("NO");
  await client.write("OP\r");
  await client.write("\n");
  assert.equal((await client.read()).code, 200);
  await client.write("NOOP\r\nSYST\nPWD\r");
  assert.equal((await client.read()).code, 200);
  assert.equal((await client.read()).code, 215);
  assert.equal((await client.read()).code, 257);
  await client.write(
    new Uint8Array([0xff, 0xf4, 0xff, 0xf2, ...new TextEncoder().encode("ABOR\r\n")]),
  );
  assert.equal((await client.read()).code, 225);
});

test("garbage bytes and invalid UTF-8 get replies, never a crash", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  const garbage = new Uint8Array(2000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 256;
  const lines = new TextDecoder("utf-8", { fatal: false })
    .decode(garbage).split(/\r\n|\n|\r/).length;
  await client.write(garbage);
  await client.write("\r\nNOOP\r\n");
  let last;
  for (let i = 0; i < lines + 5; i++) {
    last = await client.read();
    if (last.code === 200) break;
  }
  assert.equal(last?.code, 200);
  assert.equal((await client.send("PWD")).code, 257);
});

test("QUIT says 221 and closes", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("QUIT")).code, 221);
  await h.ended;
});

test("the login timeout sends 421 and closes", async () => {
  await using ts = await startServer({ loginTimeoutMs: 100 });
  using client = await RawFtpClient.connect(ts.addr);
  const reply = await client.read();
  assert.equal(reply.code, 421);
  assert.ok(await client.closedByServer());
});

test("the idle timeout sends 421 and closes", async () => {
  await using ts = await startServer({ idleTimeoutMs: 150 });
  const client = await ts.client();
  assert.equal((await client.read()).code, 421);
  assert.ok(await client.closedByServer());
});

test("max_sessions_per_ip refuses the extra connection with 421", async () => {
  await using ts = await startServer({ maxSessionsPerIp: 2 });
  using a = await RawFtpClient.connect(ts.addr);
  using b = await RawFtpClient.connect(ts.addr);
  using c = await RawFtpClient.connect(ts.addr);
  assert.equal(a.greeting.code, 220);
  assert.equal(b.greeting.code, 220);
  assert.equal(c.greeting.code, 421);
});

test("sessions and events: open, login, close are dispatched", async () => {
  await using ts = await startServer();
  const seen: string[] = [];
  for (const type of ["session-open", "login", "session-close"] as const) {
    ts.server.addEventListener(
      type,
      (event) => seen.push(`${type}:${event.detail.username ?? ""}`),
    );
  }
  const client = await ts.client("carol");
  await client.send("QUIT");
  await client.closedByServer();
  await import("../helpers.ts").then(({ waitFor }) => waitFor(() => seen.length === 3));
  assert.deepEqual(seen, ["session-open:", "login:carol", "session-close:carol"]);
});

test("an address with too many failed logins is refused at connect until the ban ends", async () => {
  await using ts = await startServer({ banAfterFailures: 3, banMs: 300, maxLoginFailures: 10 });
  using client = await RawFtpClient.connect(ts.addr);
  for (let i = 0; i < 3; i++) {
    await client.send("USER root");
    assert.equal((await client.send("PASS guess")).code, 530);
  }
  using refused = await RawFtpClient.connect(ts.addr);
  assert.equal(refused.greeting.code, 421);
  assert.match(refused.greeting.text, /failed logins/);
  await waitFor(
    async () => {
      using later = await RawFtpClient.connect(ts.addr);
      return later.greeting.code === 220;
    },
    3000,
    "the ban to end",
  );
});

test("onTransferComplete is called for transfers and file operations", async () => {
  const seen: string[] = [];
  await using ts = await startServer({
    onTransferComplete: (d) => seen.push(`${d.command}:${d.outcome}`),
  });
  const client = await ts.client();
  await client.upload("STOR a.txt", new TextEncoder().encode("a"));
  await client.send("DELE a.txt");
  await client.send("DELE a.txt");
  assert.deepEqual(seen, ["STOR:ok", "DELE:ok", "DELE:failed"]);
});
