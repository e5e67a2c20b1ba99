import assert from "node:assert/strict";
import { type DataSetup, openDataChannel } from "../../../src/data/channel.ts";
import { closeQuietly, writeAll } from "../../../src/data/connection.ts";
import { PassiveListener } from "../../../src/data/passive.ts";
import { DataTlsFailed, FtpError } from "../../../src/errors.ts";
import { Reply } from "../../../src/replies.ts";
import { type SessionReusePolicy, TlsSettings } from "../../../src/tls.ts";
import { hasCommand } from "../../helpers.ts";
import { testCertificates } from "../../tls_fixture.ts";

const HOST = "127.0.0.1";
const noOpenssl = !hasCommand("openssl");
const certs = noOpenssl ? undefined : await testCertificates();

/** The client side of active mode: the server connects to this listener. */
function activeClient(): { setup: DataSetup; accepted: Promise<Deno.TcpConn> } & Disposable {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  accepted.catch(() => {}); // a test that fails early closes the listener first
  return {
    setup: { kind: "active", hostname: HOST, port: listener.addr.port },
    accepted,
    [Symbol.dispose]: () => listener.close(),
  };
}

function protect(sessionReuse: SessionReusePolicy = "off") {
  const settings = new TlsSettings({ cert: certs!.cert, key: certs!.key });
  return { context: settings.createContext(), sessionReuse };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  return await new Response(conn.readable).text();
}

Deno.test("active PROT C: a plain native connection to the client's port", async () => {
  using client = activeClient();
  const opening = openDataChannel(client.setup, { timeoutMs: 2000 }, new AbortController().signal);
  const conn = await client.accepted;
  const channel = await opening;
  await writeAll(channel, new TextEncoder().encode("clear"));
  channel.close();
  assert.equal(await readAll(conn), "clear");
});

Deno.test({
  name: "active PROT P: the server is the TLS server and ends the data with close_notify",
  ignore: noOpenssl,
  async fn() {
    using client = activeClient();
    const opening = openDataChannel(
      client.setup,
      { tls: protect(), timeoutMs: 2000 },
      new AbortController().signal,
    );
    const tcp = await client.accepted;
    const tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [certs!.ca] });
    const channel = await opening;
    await writeAll(channel, new TextEncoder().encode("secret"));
    await channel.closeGracefully!();
    channel.close();
    // A clean end (no UnexpectedEof) is the close_notify.
    assert.equal(await readAll(tls), "secret");
  },
});

Deno.test({
  name:
    "session reuse: require refuses a data connection that did not resume with 522; prefer logs it",
  ignore: noOpenssl,
  async fn() {
    for (const policy of ["require", "prefer"] as const) {
      using client = activeClient();
      const logged: string[] = [];
      const opening = openDataChannel(
        client.setup,
        { tls: protect(policy), timeoutMs: 2000, log: (_level, message) => logged.push(message) },
        new AbortController().signal,
      );
      const tcp = await client.accepted;
      // A fresh client has no session to resume.
      const tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [certs!.ca] });
      if (policy === "require") {
        await assert.rejects(opening, (error) => {
          assert.ok(error instanceof FtpError);
          assert.equal(error.code, Reply.NetworkProtocolNotSupported);
          assert.match(error.message, /reuse the control connection's TLS session/);
          return true;
        });
        assert.deepEqual(logged, []);
        closeQuietly(tls);
      } else {
        const channel = await opening;
        assert.deepEqual(logged, ["Data connection did not reuse the TLS session"]);
        channel.close();
        closeQuietly(tls);
      }
    }
  },
});

Deno.test({
  name: "a client that never starts the data connection's TLS fails it after the timeout",
  ignore: noOpenssl,
  async fn() {
    using client = activeClient();
    const opening = openDataChannel(
      client.setup,
      { tls: protect(), timeoutMs: 100 },
      new AbortController().signal,
    );
    using _tcp = await client.accepted;
    await assert.rejects(opening, DataTlsFailed);
  },
});

Deno.test({
  name: "passive: a native TLS connection under PROT C, or a plain one under PROT P, is 425",
  ignore: noOpenssl,
  async fn() {
    const tlsListener = new PassiveListener(
      Deno.listenTls({ hostname: HOST, port: 0, cert: certs!.cert, key: certs!.key }),
      HOST,
    );
    const tlsClient = Deno.connectTls({
      hostname: "localhost",
      port: tlsListener.port,
      caCerts: [certs!.ca],
    }).catch(() => undefined);
    await assert.rejects(
      openDataChannel(
        { kind: "passive", listener: tlsListener },
        { timeoutMs: 2000 },
        new AbortController().signal,
      ),
      (error) => error instanceof FtpError && error.code === 425 && /PROT is C/.test(error.message),
    );
    closeQuietly(await tlsClient);

    const plainListener = new PassiveListener(Deno.listen({ hostname: HOST, port: 0 }), HOST);
    const plainClient = await Deno.connect({ hostname: HOST, port: plainListener.port });
    await assert.rejects(
      openDataChannel(
        { kind: "passive", listener: plainListener },
        { tls: protect(), timeoutMs: 2000 },
        new AbortController().signal,
      ),
      (error) =>
        error instanceof FtpError && error.code === 425 && /PROT P came after/.test(error.message),
    );
    plainClient.close();
  },
});

Deno.test("active: an abort while connecting is 425 and the late socket is closed", async () => {
  using client = activeClient();
  const controller = new AbortController();
  const opening = openDataChannel(client.setup, { timeoutMs: 2000 }, controller.signal);
  controller.abort(); // before the connect can complete
  await assert.rejects(opening, (error) => error instanceof FtpError && error.code === 425);
  // The connection made after the abort is closed by the server.
  const conn = await client.accepted;
  assert.equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
});
