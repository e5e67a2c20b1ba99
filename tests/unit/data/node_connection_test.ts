/**
 * Issue 10, item 9: a control connection that is not read (its session is blocked writing
 * replies a client never reads) must stop reading from the network at a small bound, over TLS
 * as in plain text, so an unauthenticated TLS session costs no more memory than a plain one.
 */

import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { NodeSocketConnection } from "../../../src/data/node_connection.ts";
import { test, withDeadline } from "../../deadline.ts";
import { hasCommand } from "../../helpers.ts";
import { testCertificates } from "../../tls_fixture.ts";

const noOpenssl = !hasCommand("openssl");
/** The control connections' bound (64 KiB) plus one read's worth of slack. */
const MAX_UNREAD = 128 << 10;

/** Accept one paused connection on a node:net server. */
async function acceptOne(): Promise<
  { port: number; accepted: Promise<net.Socket>; close(): void }
> {
  const accepted = Promise.withResolvers<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.on("error", () => {});
    accepted.resolve(socket);
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: accepted.promise,
    close: () => server.close(),
  };
}

/** Write until the server stops taking bytes (no progress for 500 ms); returns bytes written. */
async function writeUntilBlocked(conn: Deno.Conn): Promise<number> {
  const chunk = new Uint8Array(64 << 10).fill(0x41);
  let written = 0;
  while (written < 64 << 20) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.write(chunk),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 500)),
    ]).finally(() => clearTimeout(timer));
    if (n === null) return written;
    written += n;
  }
  return written;
}

for (const secure of [false, true]) {
  test({
    name: `an unread ${secure ? "TLS" : "plain"} control connection buffers at most ~64 KiB`,
    ignore: secure && noOpenssl,
    deadlineMs: 30_000,
    async fn() {
      const listener = await acceptOne();
      const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      let connection: NodeSocketConnection | undefined;
      let clientConn: Deno.Conn = client;
      try {
        const socket = await listener.accepted;
        if (secure) {
          const certs = await testCertificates();
          const upgrading = NodeSocketConnection.unread(socket).startTls({
            secureContext: tls.createSecureContext({ cert: certs.cert, key: certs.key }),
            timeoutMs: 10_000,
          });
          clientConn = await Deno.startTls(client, { hostname: "localhost", caCerts: [certs.ca] });
          await (clientConn as Deno.TlsConn).handshake();
          connection = await upgrading;
        } else {
          connection = NodeSocketConnection.plain(socket);
        }
        const written = await withDeadline(20_000, () => writeUntilBlocked(clientConn));
        assert.ok(
          connection.bufferedBytes <= MAX_UNREAD,
          `${connection.bufferedBytes} bytes unread in the server process after the client ` +
            `wrote ${written} (the kernel's buffers hold the rest)`,
        );
      } finally {
        connection?.close();
        try {
          clientConn.close();
        } catch {
          // already closed
        }
        listener.close();
      }
    },
  });
}
