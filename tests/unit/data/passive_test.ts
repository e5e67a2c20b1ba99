import assert from "node:assert/strict";
import * as net from "node:net";
import { PassiveListener, PassivePortPool } from "../../../src/data/passive.ts";
import { FtpError } from "../../../src/errors.ts";

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

Deno.test("PassivePortPool listens on ports inside its range", () => {
  const { min, max, held } = holdFreeRange(10);
  for (const listener of held) listener.close();
  const pool = new PassivePortPool(min, max);
  const seen = new Set<number>();
  for (let i = 0; i < 30; i++) {
    using listener = pool.listen(HOST);
    const port = listener.addr.port;
    assert.ok(port >= min && port <= max, `${port} not in ${min}-${max}`);
    assert.equal(listener.addr.hostname, HOST);
    seen.add(port);
  }
  assert.ok(seen.size > 1, "ports should be picked at random, not always the same");
});

Deno.test("PassivePortPool can hold several listeners of a range at once", () => {
  const { min, max, held } = holdFreeRange(4);
  for (const listener of held) listener.close();
  const pool = new PassivePortPool(min, max);
  const listeners = [pool.listen(HOST), pool.listen(HOST), pool.listen(HOST), pool.listen(HOST)];
  try {
    const ports = listeners.map((l) => l.addr.port).sort((a, b) => a - b);
    assert.deepEqual(ports, [min, min + 1, min + 2, min + 3]);
    assert.throws(() => pool.listen(HOST), isFtpError(425));
  } finally {
    for (const listener of listeners) listener.close();
  }
});

Deno.test("PassivePortPool skips busy ports", () => {
  const { min, max, held } = holdFreeRange(6);
  const freePort = min + 3;
  held[3].close();
  try {
    const pool = new PassivePortPool(min, max);
    for (let i = 0; i < 10; i++) {
      using listener = pool.listen(HOST);
      assert.equal(listener.addr.port, freePort);
    }
  } finally {
    for (const [index, listener] of held.entries()) if (index !== 3) listener.close();
  }
});

Deno.test("PassivePortPool answers an exhausted range with FtpError 425", () => {
  const { min, max, held } = holdFreeRange(3);
  try {
    const pool = new PassivePortPool(min, max);
    assert.throws(() => pool.listen(HOST), isFtpError(425));
    // A one-port range that is busy is exhausted too.
    assert.throws(() => new PassivePortPool(min, min).listen(HOST), isFtpError(425));
  } finally {
    for (const listener of held) listener.close();
  }
});

Deno.test("PassivePortPool with range 0-0 listens on any free port", () => {
  const pool = new PassivePortPool(0, 0);
  using a = pool.listen(HOST);
  using b = pool.listen(HOST);
  assert.ok(a.addr.port > 0);
  assert.ok(b.addr.port > 0);
  assert.notEqual(a.addr.port, b.addr.port);
});

Deno.test("PassivePortPool refuses a range whose minimum exceeds its maximum", () => {
  assert.throws(() => new PassivePortPool(40010, 40002), RangeError);
});

Deno.test("PassiveListener accept times out with FtpError 425", async () => {
  const listener = new PassiveListener(new PassivePortPool(0, 0).listen(HOST), HOST);
  const started = Date.now();
  await assert.rejects(listener.accept(50), isFtpError(425));
  assert.ok(Date.now() - started >= 40, "should wait for the timeout");
  listener.close(); // idempotent after the timeout closed it
});

Deno.test("PassiveListener accept fails with 425 when the listener is closed", async () => {
  const listener = new PassiveListener(new PassivePortPool(0, 0).listen(HOST), HOST);
  const accepting = listener.accept(10_000);
  listener.close();
  await assert.rejects(accepting, isFtpError(425));
});

Deno.test("PassiveListener accepts the client's connection", async () => {
  const listener = new PassiveListener(new PassivePortPool(0, 0).listen(HOST), HOST);
  const accepting = listener.accept(5000);
  using client = await Deno.connect({ hostname: HOST, port: listener.port });
  using server = await accepting;
  assert.equal(server.remoteAddr.port, client.localAddr.port);
  // The listener is closed after one accept: nobody else can connect.
  await assert.rejects(Deno.connect({ hostname: HOST, port: listener.port }));
});

Deno.test("PassiveListener matches an IPv4-mapped client address", async () => {
  const listener = new PassiveListener(
    new PassivePortPool(0, 0).listen(HOST),
    "::ffff:127.0.0.1",
  );
  const accepting = listener.accept(5000);
  using _client = await Deno.connect({ hostname: HOST, port: listener.port });
  using _server = await accepting;
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

Deno.test("PassiveListener closes a foreign connection and still accepts the client", async () => {
  const listener = new PassiveListener(new PassivePortPool(0, 0).listen(HOST), HOST);
  const accepting = listener.accept(5000);
  let acceptedEarly = false;
  accepting.then(() => acceptedEarly = true, () => {});

  const foreign = connectFrom("127.0.0.2", listener.port);
  await foreign.connected;
  await foreign.closed; // the server closes it without a word
  assert.equal(foreign.received(), 0);
  assert.equal(acceptedEarly, false);

  using client = await Deno.connect({ hostname: HOST, port: listener.port });
  using server = await accepting;
  assert.equal(server.remoteAddr.hostname, HOST);
  assert.equal(server.remoteAddr.port, client.localAddr.port);
});
