/**
 * Passive ports shared by client address (`passive_port_sharing:
 * by_client_address`): sessions of different addresses wait on one port,
 * each connection goes to the session of its source address, and one address
 * never has two sessions on a port.
 */

import assert from "node:assert/strict";
import * as net from "node:net";
import { PassivePortPool, type RawDataSocket, type SocketKind } from "../../src/data/passive.ts";
import { FtpError } from "../../src/errors.ts";
import { CidrList } from "../../src/proxy/cidr.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { test } from "../deadline.ts";
import { startServer } from "../helpers.ts";
import { v1 } from "./_headers.ts";

const HOST = "127.0.0.1";

/** A port that is free right now (a one-port passive range of its own). */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function connectFrom(localAddress: string, port: number, header?: Uint8Array) {
  const socket = net.connect({ host: HOST, port, localAddress });
  socket.on("error", () => {});
  if (header) socket.write(header);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, closed };
}

function sourceOf(socket: RawDataSocket): string {
  return socket instanceof net.Socket ? socket.remoteAddress! : socket.remoteAddr.hostname;
}

function closeRaw(socket: RawDataSocket): void {
  if (socket instanceof net.Socket) socket.destroy();
  else socket.close();
}

const is425 = (error: unknown) => error instanceof FtpError && error.code === 425;

for (const kind of ["native", "node"] as SocketKind[]) {
  test(`shared ${kind} port: each address's connection reaches its own session`, async () => {
    const port = freePort();
    const pool = new PassivePortPool(port, port, { sharing: "by_client_address" });
    const a = await pool.listen(HOST, "127.0.0.2", { kind });
    const b = await pool.listen(HOST, "127.0.0.3", { kind });
    assert.equal(a.port, port);
    assert.equal(b.port, port);
    await assert.rejects(pool.listen(HOST, "127.0.0.2", { kind }), is425, "same address twice");
    const acceptingA = a.accept(5000);
    const acceptingB = b.accept(5000);
    // B's client connects first, then a stranger, then A's.
    const fromB = connectFrom("127.0.0.3", port);
    const stranger = connectFrom("127.0.0.4", port);
    const fromA = connectFrom("127.0.0.2", port);
    const [gotA, gotB] = await Promise.all([acceptingA, acceptingB]);
    assert.equal(sourceOf(gotA), "127.0.0.2");
    assert.equal(sourceOf(gotB), "127.0.0.3");
    await stranger.closed;
    closeRaw(gotA);
    closeRaw(gotB);
    for (const client of [fromA, fromB]) {
      client.socket.destroy();
      await client.closed;
    }
    // Both sessions are served: the port is given back (a new one opens on it).
    if (kind === "node") await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await pool.listen(HOST, "127.0.0.2", { kind });
    assert.equal(again.port, port);
    again.close();
  });

  test(`shared ${kind} port keeps listening while a session still waits on it`, async () => {
    const port = freePort();
    const pool = new PassivePortPool(port, port, { sharing: "by_client_address" });
    const a = await pool.listen(HOST, "127.0.0.2", { kind });
    const b = await pool.listen(HOST, "127.0.0.3", { kind });
    a.close(); // A gave up (a new PASV, ABOR…)
    const accepting = b.accept(5000);
    const fromB = connectFrom("127.0.0.3", port);
    closeRaw(await accepting);
    fromB.socket.destroy();
    await fromB.closed;
  });
}

test("without sharing, a one-port range holds one session however many addresses", async () => {
  const port = freePort();
  const pool = new PassivePortPool(port, port);
  const a = await pool.listen(HOST, "127.0.0.2");
  await assert.rejects(pool.listen(HOST, "127.0.0.3"), is425);
  a.close();
});

test("shared ports with PROXY headers: the header's source picks the session", async () => {
  const port = freePort();
  const pool = new PassivePortPool(port, port, {
    sharing: "by_client_address",
    proxyFrom: new CidrList([HOST]),
  });
  const a = await pool.listen(HOST, "198.51.100.1", { kind: "node" });
  const b = await pool.listen(HOST, "198.51.100.2", { kind: "node" });
  const acceptingA = a.accept(5000);
  const acceptingB = b.accept(5000);
  const fromB = connectFrom(HOST, port, v1("198.51.100.2"));
  const fromA = connectFrom(HOST, port, v1("198.51.100.1"));
  const [gotA, gotB] = await Promise.all([acceptingA, acceptingB]);
  assert.equal((gotA as net.Socket).remotePort, fromA.socket.localPort);
  assert.equal((gotB as net.Socket).remotePort, fromB.socket.localPort);
  for (const socket of [gotA, gotB]) closeRaw(socket);
  for (const client of [fromA, fromB]) {
    client.socket.destroy();
    await client.closed;
  }
});

test("a server with a one-port range serves sessions of three addresses at once when sharing", async () => {
  const port = freePort();
  await using ts = await startServer({
    minPassivePort: port,
    maxPassivePort: port,
    passivePortSharing: "by_client_address",
    proxyProtocol: { from: ["127.0.0.1"] },
  });
  await Deno.writeTextFile(`${ts.root}/a.txt`, "shared");
  const clients = [];
  for (const address of ["127.0.0.2", "127.0.0.3", "127.0.0.4"]) {
    // Control through the "balancer" (a header), data straight from the client's address.
    const client = await RawFtpClient.connect(ts.addr, { proxyHeader: v1(address) });
    await client.login();
    const reply = await client.send("EPSV");
    assert.equal(reply.code, 229);
    assert.match(reply.text, new RegExp(`\\|${port}\\|`));
    clients.push({ client, address });
  }
  using twin = await RawFtpClient.connect(ts.addr, { proxyHeader: v1("127.0.0.2") });
  await twin.login();
  assert.equal((await twin.send("EPSV")).code, 425, "two sessions of one address never share");
  await Promise.all(clients.map(async ({ client, address }) => {
    await client.write("RETR a.txt\r\n");
    const data = connectFrom(address, port);
    const chunks: Uint8Array[] = [];
    data.socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    assert.equal((await client.read()).code, 150);
    await data.closed;
    assert.equal(new TextDecoder().decode(chunks[0]), "shared");
    assert.equal((await client.read()).code, 226);
    client.close();
  }));
});
