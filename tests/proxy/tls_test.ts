/**
 * FTPS behind a PROXY-speaking balancer: implicit TLS on the control port and
 * PROT P passive data connections, where the TLS ClientHello follows the
 * header, in the same TCP segment as it (the worst case: what was read past
 * the header must reach TLS).
 */

import assert from "node:assert/strict";
import { test } from "../deadline.ts";
import { hasCommand, startServer } from "../helpers.ts";
import { testCertificates } from "../tls_fixture.ts";
import { concat, v1, v2 } from "./_headers.ts";

const noOpenssl = !hasCommand("openssl");
const certs = noOpenssl ? undefined : await testCertificates();
const HOST = "127.0.0.1";

/**
 * A one-connection relay that connects to `port` and sends `header` joined
 * to the first bytes the client writes, in one write, then copies both ways.
 */
function relay(port: number, header: Uint8Array): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const done = (async () => {
    const client = await listener.accept();
    listener.close();
    const server = await Deno.connect({ hostname: HOST, port });
    const first = new Uint8Array(16384);
    const n = await client.read(first);
    await server.write(concat(header, first.subarray(0, n ?? 0)));
    await Promise.all([
      client.readable.pipeTo(server.writable).catch(() => {}),
      server.readable.pipeTo(client.writable).catch(() => {}),
    ]);
  })();
  return { port: listener.addr.port, done };
}

async function readReply(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  while (!/^\d{3} [^\r\n]*\r\n/m.test(text)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

async function send(conn: Deno.Conn, line: string): Promise<string> {
  await conn.write(new TextEncoder().encode(line + "\r\n"));
  return await readReply(conn);
}

test({
  name:
    "implicit FTPS and PROT P passive data behind PROXY: the ClientHello after the header is kept",
  ignore: noOpenssl,
  async fn() {
    await using ts = await startServer({
      tls: { cert: certs!.cert, key: certs!.key },
      implicitTlsPort: 0,
      proxyProtocol: { from: [HOST] },
    });
    await Deno.writeTextFile(`${ts.root}/secret.txt`, "over TLS, behind a balancer");
    const control = relay(ts.server.implicitTlsAddr!.port, v2("192.0.2.44"));
    const tcp = await Deno.connect({ hostname: HOST, port: control.port });
    const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [certs!.ca] });
    try {
      assert.match(await readReply(conn), /^220 /);
      assert.match(await send(conn, "USER alice"), /^331 /);
      assert.match(await send(conn, "PASS pw"), /^230 /);
      assert.match(await send(conn, "STAT"), /Connected from 192\.0\.2\.44/);
      assert.match(await send(conn, "PBSZ 0"), /^200 /);
      assert.match(await send(conn, "PROT P"), /^200 /);
      const epsv = await send(conn, "EPSV");
      const port = Number(/\|\|\|(\d+)\|/.exec(epsv)![1]);
      const data = relay(port, v1("192.0.2.44"));
      const dataTcp = await Deno.connect({ hostname: HOST, port: data.port });
      const dataTls = Deno.startTls(dataTcp, { hostname: "localhost", caCerts: [certs!.ca] });
      await conn.write(new TextEncoder().encode("RETR secret.txt\r\n"));
      const body = new Response((await dataTls).readable).text();
      assert.match(await readReply(conn), /^150 /);
      assert.equal(await body, "over TLS, behind a balancer");
      assert.match(await readReply(conn), /^226 /);
      await data.done;
      assert.match(await send(conn, "QUIT"), /^221 /);
    } finally {
      conn.close();
    }
    await control.done;
  },
});
