import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { NodeSocketConnection } from "../../../src/data/node_connection.ts";
import { hasCommand, randomBytes, sha256 } from "../../helpers.ts";
import { testCertificates } from "../../tls_fixture.ts";

const noOpenssl = !hasCommand("openssl");
const certs = noOpenssl ? undefined : await testCertificates();

type Kind = "plain" | "AUTH TLS" | "implicit TLS";

/** A server-side control connection of `kind` and the client's end of it. */
async function controlPair(kind: Kind) {
  const accepted = Promise.withResolvers<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => accepted.resolve(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const socket = await accepted.promise;
  server.close();
  if (kind === "plain") return { connection: NodeSocketConnection.plain(socket), client: tcp };
  const options = {
    secureContext: tls.createSecureContext({ cert: certs!.cert, key: certs!.key }),
    timeoutMs: 10_000,
  };
  const before = kind === "AUTH TLS"
    ? NodeSocketConnection.plain(socket)
    : NodeSocketConnection.unread(socket);
  const [connection, client] = await Promise.all([
    before.startTls(options),
    Deno.startTls(tcp, { hostname: "localhost", caCerts: [certs!.ca] }),
  ]);
  return { connection, client };
}

for (const kind of ["plain", "AUTH TLS", "implicit TLS"] as const) {
  Deno.test({
    name: `${kind} control connection: unread input stops reading at a few KiB, then all arrives`,
    ignore: kind !== "plain" && noOpenssl,
    async fn() {
      const { connection, client } = await controlPair(kind);
      try {
        const sent = randomBytes(8 << 20);
        const writing = (async () => {
          let offset = 0;
          while (offset < sent.length) offset += await client.write(sent.subarray(offset));
        })();
        // Nothing reads: what the server holds grows until reading stops.
        let held = 0;
        let stable = 0;
        const deadline = Date.now() + 10_000;
        while (stable < 8 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          stable = connection.bufferedBytes === held ? stable + 1 : 0;
          held = connection.bufferedBytes;
        }
        assert.ok(stable >= 8, "the unread input never stopped growing");
        // 16 KiB, plus the chunk that crossed it.
        assert.ok(held > 0 && held <= (16 + 64) << 10, `${held} bytes held unread`);
        // Reading resumes, and every byte arrives in order.
        const received = new Uint8Array(sent.length);
        let length = 0;
        while (length < sent.length) {
          const n = await connection.read(received.subarray(length));
          assert.ok(n !== null, `end of stream after ${length} bytes`);
          length += n;
        }
        await writing;
        assert.equal(await sha256(received), await sha256(sent));
      } finally {
        client.close();
        connection.close();
      }
    },
  });
}

for (const kind of ["plain", "AUTH TLS"] as const) {
  Deno.test({
    name: `${kind} control connection: a write to a peer that doesn't read waits, holding little`,
    ignore: kind !== "plain" && noOpenssl,
    async fn() {
      const { connection, client } = await controlPair(kind);
      try {
        // Replies as a session sends them, one awaited write after another.
        const reply = new Uint8Array(500);
        let written = 0;
        const writing = (async () => {
          while (written < 256 << 20) written += await connection.write(reply);
        })().catch(() => {}); // rejected once the peer closes
        // Poll until the writes stop getting through, with a deadline.
        let last = -1;
        const deadline = Date.now() + 10_000;
        while (written !== last && Date.now() < deadline) {
          last = written;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.ok(written < 64 << 20, `${written} bytes written to a peer that reads nothing`);
        // Beyond the kernel's buffers, the socket holds a write or two.
        const pending = connection.socket.writableLength;
        const limit = connection.socket.writableHighWaterMark + reply.length;
        assert.ok(pending <= limit, `${pending} bytes waiting in the socket`);
        // The waiting write ends when the peer goes away.
        client.close();
        let timer;
        const ended = await Promise.race([
          writing.then(() => true),
          new Promise((resolve) => timer = setTimeout(() => resolve(false), 5000)),
        ]);
        clearTimeout(timer);
        assert.ok(ended, "the write still waits 5 s after the peer closed");
      } finally {
        connection.close();
      }
    },
  });
}
