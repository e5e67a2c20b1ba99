import assert from "node:assert/strict";
import * as net from "node:net";
import { NodeSocketConnection } from "../../../src/data/node_connection.ts";
import { ProxyHeaderError } from "../../../src/proxy/header.ts";
import {
  ProxyHeaderTimeout,
  readProxyHeader,
  readProxyHeaderFromSocket,
} from "../../../src/proxy/read.ts";
import { test } from "../../deadline.ts";
import { ascii, concat, v1, v2 } from "../../proxy/_headers.ts";

const HOST = "127.0.0.1";

/** Send `chunks` one TCP write at a time, a little apart, so they arrive as separate segments. */
async function sendApart(conn: Deno.Conn, chunks: Uint8Array[]): Promise<void> {
  for (const chunk of chunks) {
    await conn.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function readSome(conn: { read(b: Uint8Array): Promise<number | null> }, size: number) {
  const buffer = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return new TextDecoder().decode(buffer.subarray(0, filled));
}

/** Split bytes into chunks of 1, 2, 3… bytes. */
function ragged(bytes: Uint8Array): Uint8Array[] {
  const chunks = [];
  for (let offset = 0, size = 1; offset < bytes.length; offset += size, size++) {
    chunks.push(bytes.subarray(offset, offset + size));
  }
  return chunks;
}

for (const [name, header] of [["v1", v1("192.0.2.9", HOST, 4242, 21)], ["v2", v2("2001:db8::9")]]) {
  test(`readProxyHeader (native) reads a ${name} header split across segments, leaving the client's bytes`, async () => {
    using listener = Deno.listen({ hostname: HOST, port: 0 });
    using client = await Deno.connect({ hostname: HOST, port: listener.addr.port });
    using server = await listener.accept();
    const sending = sendApart(client, ragged(concat(header as Uint8Array, ascii("USER x\r\n"))));
    const parsed = await readProxyHeader(server, 5000);
    assert.equal(parsed.command, "proxy");
    assert.equal(await readSome(server, 8), "USER x\r\n");
    await sending;
  });

  test(`readProxyHeaderFromSocket (node) reads a ${name} header split across segments, pushing back the rest`, async () => {
    const accepted = Promise.withResolvers<net.Socket>();
    const server = net.createServer({ pauseOnConnect: true }, accepted.resolve);
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    try {
      using client = await Deno.connect({
        hostname: HOST,
        port: (server.address() as net.AddressInfo).port,
      });
      const socket = await accepted.promise;
      const chunks = ragged(header as Uint8Array);
      // The last segment carries the end of the header and the client's first bytes.
      chunks.push(concat(chunks.pop()!, ascii("USER x\r\n")));
      const sending = sendApart(client, chunks);
      const parsed = await readProxyHeaderFromSocket(socket, 5000);
      assert.equal(parsed.command, "proxy");
      const connection = NodeSocketConnection.plain(socket);
      assert.equal(await readSome(connection, 8), "USER x\r\n");
      await sending;
      connection.close();
    } finally {
      server.close();
    }
  });
}

test("readProxyHeader gives up at its deadline when the header stops halfway", async () => {
  using listener = Deno.listen({ hostname: HOST, port: 0 });
  const client = await Deno.connect({ hostname: HOST, port: listener.addr.port });
  const server = await listener.accept();
  await client.write(ascii("PROXY TCP4 1.2."));
  const started = Date.now();
  await assert.rejects(readProxyHeader(server, 100), ProxyHeaderTimeout);
  assert.ok(Date.now() - started >= 90);
  server.close(); // ends the read still pending
  client.close();
});

test("readProxyHeaderFromSocket gives up at its deadline, and on a malformed or cut header", async () => {
  const sockets: net.Socket[] = [];
  const arrived: (() => void)[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.push(socket);
    arrived.shift()?.();
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const next = async (send: Uint8Array, end = false) => {
    const came = new Promise<void>((resolve) => arrived.push(resolve));
    const client = await Deno.connect({ hostname: HOST, port });
    await client.write(send);
    if (end) await client.closeWrite();
    await came;
    return { client, socket: sockets.at(-1)! };
  };
  try {
    const silent = await next(ascii("PROXY "));
    await assert.rejects(readProxyHeaderFromSocket(silent.socket, 100), ProxyHeaderTimeout);
    const wrong = await next(ascii("USER anonymous\r\n"));
    await assert.rejects(readProxyHeaderFromSocket(wrong.socket, 5000), /Not a PROXY header/);
    const cut = await next(ascii("PROXY TCP4 1.2.3.4"), true);
    await assert.rejects(readProxyHeaderFromSocket(cut.socket, 5000), ProxyHeaderError);
    for (const { client, socket } of [silent, wrong, cut]) {
      socket.destroy();
      client.close();
    }
  } finally {
    server.close();
  }
});
