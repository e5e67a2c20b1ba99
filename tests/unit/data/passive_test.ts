import assert from "node:assert/strict";
import * as net from "node:net";
import { PassivePortPool, type RawDataSocket, type SocketKind } from "../../../src/data/passive.ts";
import { FtpError } from "../../../src/errors.ts";
import { ServerMetrics } from "../../../src/metrics.ts";
import type { RawFtpClient } from "../../../src/testing/raw_client.ts";
import { startServer } from "../../helpers.ts";

const HOST = "127.0.0.1";

/**
 * Find `count` consecutive ports that are free on 127.0.0.1 right now and hold them with
 * listeners, so that this test's range cannot collide with a parallel test's.
 */
function holdFreeRange(count: number): { min: number; max: number; held: Deno.TcpListener[] } {
  for (let attempt = 0; attempt < 200; attempt++) {
    const min = 20000 + Math.floor(Math.random() * (30000 - count));
    const held: Deno.TcpListener[] = [];
    try {
      for (let port = min; port < min + count; port++) {
        held.push(Deno.listen({ hostname: HOST, port }));
      }
      return { min, max: min + count - 1, held };
    } catch {
      for (const listener of held) listener.close();
    }
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

function isFtpError(code: number) {
  return (error: unknown) => error instanceof FtpError && error.code === code;
}

function closeRaw(socket: RawDataSocket): void {
  if (socket instanceof net.Socket) socket.destroy();
  else socket.close();
}

function remotePort(socket: RawDataSocket): number {
  return socket instanceof net.Socket ? socket.remotePort! : socket.remoteAddr.port;
}

Deno.test("PassivePortPool listens on ports inside its range, picked at random", async () => {
  const { min, max, held } = holdFreeRange(10);
  for (const listener of held) listener.close();
  const pool = new PassivePortPool(min, max);
  const seen = new Set<number>();
  for (let i = 0; i < 30; i++) {
    const listener = await pool.listen(HOST, HOST);
    assert.ok(
      listener.port >= min && listener.port <= max,
      `${listener.port} not in ${min}-${max}`,
    );
    seen.add(listener.port);
    listener.close();
  }
  assert.ok(seen.size > 1, "ports should be picked at random, not always the same");
});

for (const kind of ["native", "node"] as SocketKind[]) {
  Deno.test(`PassivePortPool (${kind}) holds several listeners, then answers 425`, async () => {
    const { min, max, held } = holdFreeRange(4);
    for (const listener of held) listener.close();
    const pool = new PassivePortPool(min, max);
    const listeners = [];
    try {
      for (let i = 0; i < 4; i++) listeners.push(await pool.listen(HOST, HOST, { kind }));
      const ports = listeners.map((l) => l.port).sort((a, b) => a - b);
      assert.deepEqual(ports, [min, min + 1, min + 2, min + 3]);
      await assert.rejects(pool.listen(HOST, HOST, { kind }), isFtpError(425));
    } finally {
      for (const listener of listeners) listener.close();
    }
  });

  Deno.test(`PassivePortPool (${kind}) skips busy ports`, async () => {
    const { min, max, held } = holdFreeRange(6);
    const freePort = min + 3;
    held[3].close();
    try {
      const pool = new PassivePortPool(min, max);
      for (let i = 0; i < 10; i++) {
        const listener = await pool.listen(HOST, HOST, { kind });
        assert.equal(listener.port, freePort);
        listener.close();
        if (kind === "node") await new Promise((r) => setTimeout(r, 5)); // node closes async
      }
    } finally {
      for (const [index, listener] of held.entries()) if (index !== 3) listener.close();
    }
  });

  Deno.test(`PassivePortPool (${kind}) answers an exhausted range with FtpError 425`, async () => {
    const { min, max, held } = holdFreeRange(3);
    try {
      await assert.rejects(
        new PassivePortPool(min, max).listen(HOST, HOST, { kind }),
        isFtpError(425),
      );
      await assert.rejects(
        new PassivePortPool(min, min).listen(HOST, HOST, { kind }),
        isFtpError(425),
      );
    } finally {
      for (const listener of held) listener.close();
    }
  });

  Deno.test(`a ${kind} passive listener times out with 425, idempotent close`, async () => {
    const listener = await new PassivePortPool(0, 0).listen(HOST, HOST, { kind });
    const started = Date.now();
    await assert.rejects(listener.accept(50), isFtpError(425));
    assert.ok(Date.now() - started >= 40, "should wait for the timeout");
    listener.close();
  });

  Deno.test(`a ${kind} passive listener that nobody connects to releases its port when it expires`, async () => {
    const { min, max, held } = holdFreeRange(1);
    for (const listener of held) listener.close();
    const pool = new PassivePortPool(min, max);
    const listener = await pool.listen(HOST, HOST, { kind, expiresInMs: 100 });
    await assert.rejects(pool.listen(HOST, HOST, { kind }), isFtpError(425));
    // No accept() was ever called: the expiry alone frees the port.
    const deadline = Date.now() + 5000;
    let again: Awaited<ReturnType<typeof pool.listen>> | undefined;
    while (!again) {
      assert.ok(Date.now() < deadline, "the port was never released");
      again = await pool.listen(HOST, HOST, { kind }).catch(() => undefined);
      if (!again) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(again.port, min);
    again.close();
    await assert.rejects(
      listener.accept(5000),
      isFtpError(425),
      "an expired listener accepts nothing",
    );
    listener.close();
  });

  Deno.test(`a ${kind} passive listener fails with 425 when closed while waiting`, async () => {
    const listener = await new PassivePortPool(0, 0).listen(HOST, HOST, { kind });
    const accepting = listener.accept(10_000);
    listener.close();
    await assert.rejects(accepting, isFtpError(425));
  });

  Deno.test(`a ${kind} passive listener accepts the client once, then stops listening`, async () => {
    const listener = await new PassivePortPool(0, 0).listen(HOST, HOST, { kind });
    const accepting = listener.accept(5000);
    using client = await Deno.connect({ hostname: HOST, port: listener.port });
    const server = await accepting;
    assert.equal(remotePort(server), client.localAddr.port);
    closeRaw(server);
    await assert.rejects(Deno.connect({ hostname: HOST, port: listener.port }));
  });

  Deno.test(`a ${kind} passive listener matches an IPv4-mapped client address`, async () => {
    const listener = await new PassivePortPool(0, 0).listen(HOST, "::ffff:127.0.0.1", { kind });
    const accepting = listener.accept(5000);
    using _client = await Deno.connect({ hostname: HOST, port: listener.port });
    closeRaw(await accepting);
  });

  Deno.test(`a ${kind} passive listener closes a foreign connection and still accepts the client`, async () => {
    const listener = await new PassivePortPool(0, 0).listen(HOST, HOST, { kind });
    const accepting = listener.accept(5000);
    let acceptedEarly = false;
    accepting.then(() => acceptedEarly = true, () => {});
    const foreign = connectFrom("127.0.0.2", listener.port);
    await foreign.connected;
    await foreign.closed; // closed without a word
    assert.equal(foreign.received(), 0);
    assert.equal(acceptedEarly, false);
    using client = await Deno.connect({ hostname: HOST, port: listener.port });
    const server = await accepting;
    assert.equal(remotePort(server), client.localAddr.port);
    closeRaw(server);
  });
}

Deno.test("PassivePortPool with range 0-0 listens on any free port", async () => {
  const pool = new PassivePortPool(0, 0);
  const a = await pool.listen(HOST, HOST);
  const b = await pool.listen(HOST, HOST);
  assert.ok(a.port > 0);
  assert.notEqual(a.port, b.port);
  a.close();
  b.close();
});

Deno.test("PassivePortPool refuses a range whose minimum exceeds its maximum", () => {
  assert.throws(() => new PassivePortPool(40010, 40002), RangeError);
});

/** Connect from a given local address with node:net (Deno.connect cannot choose one). */
function connectFrom(localAddress: string, port: number) {
  const socket = net.connect({ host: HOST, port, localAddress });
  let received = 0;
  socket.on("data", (data: Uint8Array) => received += data.length);
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  const connected = new Promise<void>((resolve) => socket.on("connect", () => resolve()));
  return { socket, closed, connected, received: () => received };
}

Deno.test({
  name: "PASV listeners nobody connects to are released after passive_accept_timeout_s, " +
    "even while their sessions send NOOP; running out is logged and counted",
  async fn() {
    const { min, max, held } = holdFreeRange(2);
    for (const listener of held) listener.close();
    const warnings: string[] = [];
    await using ts = await startServer({
      minPassivePort: min,
      maxPassivePort: max,
      passiveAcceptTimeoutMs: 300,
      logger: (level, message) => level === "warn" && warnings.push(message),
    });
    const metrics = new ServerMetrics(ts.server);
    await Deno.writeTextFile(`${ts.root}/a.txt`, "data");
    // Two sessions take the whole range and never connect, but keep talking.
    const idlers = [await ts.client(), await ts.client()];
    for (const idler of idlers) assert.equal((await idler.send("PASV")).code, 227);
    const other = await ts.client();
    const refused = await other.send("EPSV");
    assert.equal(refused.code, 425);
    assert.deepEqual(warnings, ["No passive port available"]);
    assert.match(metrics.render(), /^exftp_passive_ports_exhausted_total 1$/m);
    const started = Date.now();
    let downloaded: Awaited<ReturnType<RawFtpClient["download"]>> | undefined;
    while (!downloaded) {
      assert.ok(Date.now() - started < 5000, "the idle sessions kept their ports");
      for (const idler of idlers) assert.equal((await idler.send("NOOP")).code, 200);
      downloaded = await other.download("RETR a.txt").catch(() => undefined);
      if (!downloaded) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(Date.now() - started >= 250, "released only after the accept timeout");
    assert.deepEqual(downloaded.replies.map((r) => r.code), [150, 226]);
    assert.equal(new TextDecoder().decode(downloaded.data), "data");
    // An idler that finally asks for its transfer is told at once to send PASV again.
    const late = await idlers[0].send("RETR a.txt");
    const final = late.code === 150 ? await idlers[0].read() : late;
    assert.equal(final.code, 425);
  },
});
