/**
 * PROXY protocol through the server's accept path, with a raw client acting
 * as the balancer (it sends the header itself): the header's address is the
 * client's for limits, bans, PORT checks, events, authenticators and the
 * passive source check; untrusted peers are never read as PROXY.
 */

import assert from "node:assert/strict";
import * as net from "node:net";
import type { Credentials } from "../../src/auth/types.ts";
import { PassthroughAuthenticator } from "../../src/auth/passthrough.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { test } from "../deadline.ts";
import { startServer } from "../helpers.ts";
import { ascii, concat, v1, v2 } from "./_headers.ts";

const BALANCER = "127.0.0.1";

/** Open a data connection to `port` from `localAddress`, optionally sending a header first. */
async function dataConnection(
  port: number,
  options: { localAddress?: string; header?: Uint8Array } = {},
): Promise<{ socket: net.Socket; received: Promise<string>; closed: Promise<void> }> {
  const socket = net.connect({ host: BALANCER, port, localAddress: options.localAddress });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  if (options.header) socket.write(options.header);
  const chunks: Uint8Array[] = [];
  socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const received = closed.then(() => new TextDecoder().decode(concat(...chunks)));
  return { socket, received, closed };
}

function epsvPort(text: string): number {
  return Number(/\(\|\|\|(\d+)\|\)/.exec(text)![1]);
}

test("the PROXY header's source is the client's address for events, authenticators and STAT", async () => {
  const requests: Credentials[] = [];
  const passthrough = new PassthroughAuthenticator();
  await using ts = await startServer({
    proxyProtocol: { from: [BALANCER] },
    authenticator: {
      authenticate: (request) => {
        requests.push(request);
        return passthrough.authenticate(request);
      },
    },
  });
  const seen: string[] = [];
  ts.server.addEventListener("session-open", (event) => seen.push(event.detail.remoteAddress));
  for (const header of [v1("192.0.2.7"), v2("2001:db8::7")]) {
    using client = await RawFtpClient.connect(ts.addr, { proxyHeader: header });
    assert.equal(client.greeting.code, 220);
    await client.login("alice", "pw");
    const stat = await client.send("STAT");
    assert.ok(stat.lines.some((line) => /Connected from (192\.0\.2\.7|2001:db8::7)$/.test(line)));
  }
  assert.deepEqual(seen, ["192.0.2.7", "2001:db8::7"]);
  assert.deepEqual(requests.map((r) => r.remoteAddress), ["192.0.2.7", "2001:db8::7"]);
});

test("a trusted peer that sends no valid header is closed without a greeting", async () => {
  const warnings: string[] = [];
  await using ts = await startServer({
    proxyProtocol: { from: ["127.0.0.0/8"], headerTimeoutMs: 200 },
    logger: (level, message) => level === "warn" && warnings.push(message),
  });
  for (const send of [ascii("USER anonymous\r\n"), ascii("PROXY TCP4 1.2.3.4\r\n"), undefined]) {
    using conn = await Deno.connect(ts.addr);
    if (send) await conn.write(send);
    // Nothing at all comes back: no 220, no 421.
    assert.equal(await conn.read(new Uint8Array(64)), null);
  }
  assert.equal(warnings.filter((w) => /no valid PROXY header/.test(w)).length, 3);
  assert.equal(ts.server.sessionCount, 0);
});

test("an untrusted peer is never read as PROXY: its header is a bad command", async () => {
  await using ts = await startServer({ proxyProtocol: { from: ["10.0.0.0/8"] } });
  using client = await RawFtpClient.connect(ts.addr);
  assert.equal(client.greeting.code, 220);
  assert.equal((await client.send("PROXY TCP4 192.0.2.7 127.0.0.1 1 21")).code, 500);
  await client.login();
  const stat = await client.send("STAT");
  assert.ok(stat.lines.some((line) => line.endsWith("Connected from 127.0.0.1")));
});

test("a LOCAL (v2) or UNKNOWN (v1) header keeps the balancer's own address", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  const seen: string[] = [];
  ts.server.addEventListener("session-open", (event) => seen.push(event.detail.remoteAddress));
  for (
    const header of [v2("192.0.2.1", "127.0.0.1", 1, 2, { command: 0 }), ascii("PROXY UNKNOWN\r\n")]
  ) {
    using client = await RawFtpClient.connect(ts.addr, { proxyHeader: header });
    assert.equal(client.greeting.code, 220);
  }
  assert.deepEqual(seen, [BALANCER, BALANCER]);
});

test("per-IP session limits and bans follow the header's address, not the balancer's", async () => {
  await using ts = await startServer({
    proxyProtocol: { from: [BALANCER] },
    maxSessionsPerIp: 1,
    banAfterFailures: 1,
    authenticator: {
      authenticate: ({ username }) => Promise.resolve(username === "good" ? { username } : null),
    },
  });
  using a = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("198.51.100.1") });
  using b = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("198.51.100.2") });
  assert.equal(a.greeting.code, 220);
  assert.equal(b.greeting.code, 220);
  using a2 = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("198.51.100.1") });
  assert.equal(a2.greeting.code, 421, "a second session of the same client address");
  // A fails a login: A is banned, B is not.
  await a.send("USER bad");
  assert.equal((await a.send("PASS wrong")).code, 530);
  a.close();
  await new Promise((resolve) => setTimeout(resolve, 50)); // let A's session end
  using a3 = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("198.51.100.1") });
  assert.equal(a3.greeting.code, 421);
  assert.match(a3.greeting.text, /failed logins/);
  b.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  using b2 = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("198.51.100.2") });
  assert.equal(b2.greeting.code, 220);
  await b2.login("good", "pw");
});

test("PORT/EPRT must name the header's address", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  using client = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("127.0.0.5") });
  await client.login();
  assert.equal((await client.send("PORT 127,0,0,1,100,0")).code, 500);
  assert.equal((await client.send("EPRT |1|127.0.0.1|25600|")).code, 500);
  assert.equal((await client.send("EPRT |1|127.0.0.5|25600|")).code, 200);
});

test("passive data through the balancer: its header must name the client; others are closed", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  await Deno.writeTextFile(`${ts.root}/a.txt`, "hello");
  using client = await RawFtpClient.connect(ts.addr, { proxyHeader: v2("203.0.113.5") });
  await client.login();
  const port = epsvPort((await client.send("EPSV")).text);
  await client.write("RETR a.txt\r\n"); // the server accepts from now on
  // A data connection from the balancer naming someone else, and one without a header.
  const stranger = await dataConnection(port, { header: v2("203.0.113.6") });
  await stranger.closed;
  const bare = await dataConnection(port, { header: ascii("hello") });
  await bare.closed;
  const real = await dataConnection(port, { header: v2("203.0.113.5") });
  assert.equal((await client.read()).code, 150);
  assert.equal(await real.received, "hello");
  assert.equal((await client.read()).code, 226);
  assert.equal(await stranger.received, "");
});

test("passive data straight from the client (not via the balancer) is checked against the header's address", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  await Deno.writeTextFile(`${ts.root}/a.txt`, "direct");
  // The control connection came through the balancer for 127.0.0.3; data comes straight from it.
  using client = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("127.0.0.3") });
  await client.login();
  const port = epsvPort((await client.send("EPSV")).text);
  await client.write("RETR a.txt\r\n");
  const wrong = await dataConnection(port, { localAddress: "127.0.0.4" });
  await wrong.closed;
  const direct = await dataConnection(port, { localAddress: "127.0.0.3" });
  assert.equal((await client.read()).code, 150);
  assert.equal(await direct.received, "direct");
  assert.equal((await client.read()).code, 226);
});

test("an upload's first bytes, in the same segment as the data connection's header, are kept", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  using client = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("203.0.113.5") });
  await client.login();
  for (const command of ["EPSV", "PASV"]) {
    const reply = await client.send(command);
    const port = command === "EPSV"
      ? epsvPort(reply.text)
      : ((n) => n[4] * 256 + n[5])(/\((.*)\)/.exec(reply.text)![1].split(",").map(Number));
    const data = await dataConnection(port, {
      header: concat(v1("203.0.113.5"), ascii(`uploaded via ${command}`)),
    });
    assert.equal((await client.send(`STOR ${command}.txt`)).code, 150);
    data.socket.end();
    assert.equal((await client.read()).code, 226);
    assert.equal(await Deno.readTextFile(`${ts.root}/${command}.txt`), `uploaded via ${command}`);
  }
});

test("PASV advertises the address the client connected to, or the rule of its network", async () => {
  await using ts = await startServer({
    proxyProtocol: { from: [BALANCER] },
    passiveAddress: [
      { networks: ["10.0.0.0/8"], address: "10.1.1.1" },
      { networks: ["192.0.2.0/24"], address: "connected" },
      { address: "203.0.113.100" },
    ],
  });
  const cases: [string, string, string][] = [
    ["10.9.9.9", "198.51.100.20", "10,1,1,1"],
    ["192.0.2.9", "198.51.100.20", "198,51,100,20"],
    ["172.16.0.1", "198.51.100.20", "203,0,113,100"],
  ];
  for (const [source, destination, advertised] of cases) {
    using client = await RawFtpClient.connect(ts.addr, { proxyHeader: v1(source, destination) });
    await client.login();
    const reply = await client.send("PASV");
    assert.equal(reply.code, 227);
    assert.match(reply.text, new RegExp(`\\(${advertised},\\d+,\\d+\\)`), source);
  }
});

test("by default PASV advertises the header's destination; an IPv6 client is sent to EPSV", async () => {
  await using ts = await startServer({ proxyProtocol: { from: [BALANCER] } });
  using v4 = await RawFtpClient.connect(ts.addr, { proxyHeader: v2("192.0.2.9", "198.51.100.20") });
  await v4.login();
  assert.match((await v4.send("PASV")).text, /\(198,51,100,20,\d+,\d+\)/);
  using v6 = await RawFtpClient.connect(ts.addr, { proxyHeader: v2("2001:db8::9", "2001:db8::1") });
  await v6.login();
  assert.equal((await v6.send("PASV")).code, 522);
  assert.equal((await v6.send("EPSV 1")).code, 522, "EPSV speaks the family the client used");
  assert.equal((await v6.send("EPSV")).code, 229);
});
