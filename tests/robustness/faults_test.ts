/**
 * Faults: clients that vanish mid-transfer (RST and FIN), a client that floods commands without
 * reading, the total session limit, the idle timeout during long transfers, hanging and failing
 * storage. Every scenario ends with the sessions released and the server still serving.
 */

import assert from "node:assert/strict";
import net from "node:net";
import type { FileInfo, FtpServerOptions, StorageConnector } from "../../mod.ts";
import type { LogLevel } from "../../src/log.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { faultyStorage } from "../../src/testing/faulty.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { randomBytes, sha256, startServer, waitFor } from "../helpers.ts";
import { test } from "../deadline.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

interface LogLine {
  level: LogLevel;
  message: string;
  fields?: Record<string, unknown>;
}

/** A logger option that keeps every line. */
function capture(): { lines: LogLine[]; logger: FtpServerOptions["logger"] } {
  const lines: LogLine[] = [];
  return {
    lines,
    logger: (level, message, fields) => lines.push({ level, message, fields }),
  };
}

function describe(lines: LogLine[]): string {
  return lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields ?? {})}`).join("\n");
}

async function put(storage: StorageConnector, path: string, bytes: Uint8Array): Promise<void> {
  await storage.write(path, ReadableStream.from([bytes]));
}

/** Memory storage whose `/big` folder lists `count` synthetic entries (a long LIST). */
function withBigFolder(inner: MemoryStorage, count: number): StorageConnector {
  const mtime = new Date("2026-01-01T00:00:00Z");
  return {
    stat: (path) =>
      path === "/big"
        ? Promise.resolve({ name: "big", type: "directory", size: 0, mtime })
        : inner.stat(path),
    list: (path) =>
      path !== "/big" ? inner.list(path) : (async function* (): AsyncGenerator<FileInfo> {
        for (let i = 0; i < count; i++) {
          yield { name: `entry-${i}-${"x".repeat(40)}.bin`, type: "file", size: i, mtime };
        }
      })(),
    read: (path, options) => inner.read(path, options),
    write: (path, source, options) => inner.write(path, source, options),
    mkdir: (path) => inner.mkdir(path),
    rmdir: (path) => inner.rmdir(path),
    remove: (path) => inner.remove(path),
    rename: (from, to) => inner.rename(from, to),
  };
}

/** A control connection on node:net, so that it can be reset (RST) or half-closed (FIN). */
class NodeControl {
  #text = "";
  #wake?: () => void;
  #ended = false;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#text += chunk;
      this.#wake?.();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("error", () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  static connect(port: number): Promise<NodeControl> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new NodeControl(socket));
      });
      socket.once("error", reject);
    });
  }

  /** The next single-line reply. */
  async reply(): Promise<{ code: number; text: string }> {
    while (true) {
      const end = this.#text.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#text.slice(0, end);
        this.#text = this.#text.slice(end + 2);
        if (/^\d{3} /.test(line)) return { code: Number(line.slice(0, 3)), text: line.slice(4) };
        continue; // a multi-line reply's inner line
      }
      if (this.#ended) throw new Error("control connection ended");
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  async send(line: string): Promise<{ code: number; text: string }> {
    this.socket.write(line + "\r\n");
    return await this.reply();
  }
}

/** Connect a node:net data socket and pause it once `atLeast` bytes have arrived. */
function dataSocket(port: number, atLeast: number): Promise<{
  socket: net.Socket;
  enough: Promise<number>;
}> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = 0;
    let reached: (n: number) => void;
    const enough = new Promise<number>((r) => (reached = r));
    socket.on("data", (chunk: Uint8Array) => {
      received += chunk.length;
      if (received >= atLeast) {
        socket.pause(); // stop reading: the rest piles up unread
        reached(received);
      }
    });
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve({ socket, enough });
    });
    socket.once("error", reject);
  });
}

/** Run a download and vanish once some of it arrived: `rst` resets both sockets, `fin` half-closes. */
async function vanishMidTransfer(
  command: "RETR /big.bin" | "LIST /big",
  how: "rst" | "fin",
): Promise<void> {
  const log = capture();
  const memory = new MemoryStorage();
  await put(memory, "/big.bin", new Uint8Array(48 * MIB));
  await put(memory, "/small.txt", encoder.encode("still here\n"));
  await using ts = await startServer({
    storage: withBigFolder(memory, 200_000),
    logger: log.logger,
  });
  const control = await NodeControl.connect(ts.addr.port);
  assert.equal((await control.reply()).code, 220);
  assert.equal((await control.send("USER alice")).code, 331);
  assert.equal((await control.send("PASS secret")).code, 230);
  assert.equal((await control.send("TYPE I")).code, 200);
  const epsv = await control.send("EPSV");
  const port = Number(/\|\|\|(\d+)\|/.exec(epsv.text)![1]);
  const data = await dataSocket(port, MIB);
  assert.equal((await control.send(command)).code, 150);
  await data.enough;
  if (how === "rst") {
    data.socket.resetAndDestroy();
    control.socket.resetAndDestroy();
  } else {
    data.socket.end();
    control.socket.end();
  }
  try {
    await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
  } finally {
    data.socket.destroy();
    control.socket.destroy();
  }
  const verb = command.slice(0, 4);
  // It really was cut mid-transfer: the transfer ended as failed or aborted, never ok.
  const ended = log.lines.filter((l) => l.message.startsWith(`${verb} `));
  assert.equal(ended.length, 1, describe(log.lines));
  assert.match(ended[0].message, /^(RETR|LIST) (failed|aborted)$/, describe(log.lines));
  // No error storm: a handful of lines (connect, login, the transfer, disconnect), no errors.
  assert.ok(log.lines.length <= 8, `too many log lines:\n${describe(log.lines)}`);
  assert.deepEqual(log.lines.filter((l) => l.level === "error"), [], describe(log.lines));
  // The server still serves.
  const client = await ts.client();
  await client.send("TYPE I");
  const { data: got, replies } = await client.download("RETR /small.txt");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  assert.equal(new TextDecoder().decode(got), "still here\n");
}

for (const how of ["rst", "fin"] as const) {
  test(`a client that vanishes mid-RETR (${how}) is released without an error storm`, () =>
    vanishMidTransfer("RETR /big.bin", how));
  test(`a client that vanishes mid-LIST (${how}) is released without an error storm`, () =>
    vanishMidTransfer("LIST /big", how));
}

test("a client flooding NOOPs without reading is back-pressured; every reply is 200", async () => {
  const log = capture();
  await using ts = await startServer({ storage: new MemoryStorage(), logger: log.logger });
  const conn = await Deno.connect(ts.addr);
  try {
    conn.setNoDelay(true);
    const PER_CHUNK = 50_000;
    const chunk = encoder.encode("NOOP\r\n".repeat(PER_CHUNK));
    const MAX_CHUNKS = 80; // 4 M NOOPs, 24 MiB: far beyond what the socket buffers can hold
    let written = 0;
    let chunks = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop && chunks < MAX_CHUNKS) {
        let at = 0;
        while (at < chunk.length) {
          const n = await conn.write(chunk.subarray(at, at + 64 * 1024));
          at += n;
          written += n;
        }
        chunks++;
      }
    })();
    // Wait until the writes stop making progress (the server stopped reading) or all went out.
    const heapBefore = Deno.memoryUsage().heapUsed;
    let finished = false;
    writer.then(() => (finished = true), () => (finished = true));
    let last = -1;
    let sameSince = Date.now();
    while (!finished && Date.now() - sameSince < 750) {
      if (written !== last) {
        last = written;
        sameSince = Date.now();
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    stop = true;
    const heapGrowth = Deno.memoryUsage().heapUsed - heapBefore;
    assert.ok(!finished, `all ${MAX_CHUNKS * PER_CHUNK} NOOPs went out: the server kept reading`);
    assert.ok(written >= PER_CHUNK * 6, "the first 50 000 NOOPs should fit in the socket buffers");
    // What the server took in while we did not read is bounded by the socket buffers (~4 MiB
    // each way on this kernel), not by the flood.
    assert.ok(written <= 16 * MIB, `the server took in ${written} bytes before blocking`);
    // (Garbage included, so only a loose bound: a server that kept reading would hold the
    // whole flood's replies, and the writes above would not have blocked.)
    assert.ok(heapGrowth < 128 * MIB, `heap grew by ${heapGrowth} bytes`);

    // Now read everything: one "200" per NOOP, in order, nothing else, then QUIT's 221.
    const reader = (async () => {
      const buffer = new Uint8Array(256 * 1024);
      const decoder = new TextDecoder();
      let pending = "";
      let count = 0;
      let greeting = false;
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`closed after ${count} replies`);
        pending += decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = pending.split("\r\n");
        pending = lines.pop()!;
        for (const line of lines) {
          if (!greeting) {
            assert.match(line, /^220 /);
            greeting = true;
          } else if (line.startsWith("200 ")) count++;
          else if (line.startsWith("221 ")) return count;
          else throw new Error(`reply ${count + 1} was ${JSON.stringify(line)}`);
        }
      }
    })();
    await writer; // the last, blocked chunk drains while the reader reads
    await conn.write(encoder.encode("QUIT\r\n"));
    assert.equal(await reader, chunks * PER_CHUNK);
    console.log(
      `flood: the writes blocked after ${(written / MIB).toFixed(1)} MiB; ` +
        `${chunks * PER_CHUNK} NOOPs sent, all answered 200; heap growth ${
          (heapGrowth / MIB).toFixed(1)
        } MiB`,
    );
  } finally {
    // Closing our end also frees a session stuck writing to us (see the next test).
    conn.close();
  }
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
  assert.deepEqual(log.lines.filter((l) => l.level !== "info"), []);
});

test({
  name: "a client that never reads its replies is dropped by the idle timeout; close() ends",
  // Session.terminate() used to wait for its 421 behind the blocked replies forever; it now
  // drops the connection after a deadline.
  async fn() {
    await using ts = await startServer({
      storage: new MemoryStorage(),
      idleTimeoutMs: 300,
      shutdownGraceMs: 500,
    });
    const conn = await Deno.connect(ts.addr);
    const chunk = encoder.encode("NOOP\r\n".repeat(50_000));
    const writer = (async () => {
      try {
        for (let i = 0; i < 80; i++) {
          let at = 0;
          while (at < chunk.length) at += await conn.write(chunk.subarray(at));
        }
      } catch {
        // closed by the server: what we expect
      }
    })();
    try {
      // The session makes no progress (its replies are not read) for longer than the idle
      // timeout: it must be closed, even though its 421 can't be delivered. Before it is
      // stuck it answers NOOPs until the socket buffers fill (5–7 s alone on this 2-core
      // machine, longer under a parallel suite), so the wait is generous: what matters is
      // that it ends, where it used to hang forever.
      await waitFor(() => ts.server.sessionCount === 0, 30_000, "the stuck session to be dropped");
      // And a graceful shutdown must end within about its grace period.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        ts.server.close().then(() => "closed"),
        new Promise((resolve) => (timer = setTimeout(() => resolve("still closing"), 3000))),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "closed", "close() did not end within 3 s (grace: 500 ms)");
    } finally {
      conn.close();
      await writer;
    }
  },
});

test("max_sessions: connections over the total limit get 421 at connect", async () => {
  const log = capture();
  await using ts = await startServer({
    storage: new MemoryStorage(),
    maxSessions: 3,
    maxSessionsPerIp: 100,
    logger: log.logger,
  });
  const held: RawFtpClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = await RawFtpClient.connect(ts.addr);
      held.push(client);
      assert.equal(client.greeting.code, 220);
    }
    for (let i = 0; i < 10; i++) {
      const refused = await RawFtpClient.connect(ts.addr);
      assert.equal(refused.greeting.code, 421);
      assert.ok(await refused.closedByServer());
      refused.close();
    }
    assert.equal(ts.server.sessionCount, 3);
    // Logged in or not, the held sessions still work.
    await held[0].login("alice", "secret");
    assert.equal((await held[0].send("NOOP")).code, 200);
    // A slot freed is a slot available.
    held.shift()!.close();
    await waitFor(() => ts.server.sessionCount === 2, 5000, "a slot to free up");
    const next = await RawFtpClient.connect(ts.addr);
    held.push(next);
    assert.equal(next.greeting.code, 220);
  } finally {
    for (const client of held) client.close();
  }
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the sessions to be released");
  assert.equal(log.lines.filter((l) => l.message === "Connection refused").length, 10);
  assert.deepEqual(log.lines.filter((l) => l.level === "error"), []);
});

test("the idle timeout is paused while a slow transfer runs, both ways", async () => {
  const memory = new MemoryStorage();
  const size = 48 * 1024;
  const content = randomBytes(size);
  await put(memory, "/slow.bin", content);
  // About 1.2 s per transfer, four times the idle timeout.
  await using ts = await startServer({
    storage: faultyStorage(memory, { slowBytesPerSecond: 40 * 1024 }),
    idleTimeoutMs: 300,
  });
  const client = await ts.client();
  await client.send("TYPE I");
  let started = Date.now();
  const { data, replies } = await client.download("RETR slow.bin");
  assert.ok(Date.now() - started >= 900, "the download was not slow");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  assert.equal(await sha256(data), await sha256(content));
  assert.equal((await client.send("NOOP")).code, 200);

  started = Date.now();
  const upload = randomBytes(size);
  const up = await client.upload("STOR up.bin", upload);
  assert.ok(Date.now() - started >= 900, "the upload was not slow");
  assert.deepEqual(up.map((r) => r.code), [150, 226]);
  const stored = new Uint8Array(
    await new Response(await memory.read("/up.bin")).arrayBuffer(),
  );
  assert.equal(await sha256(stored), await sha256(upload));
  // Once idle again, the timeout applies.
  const idle = await client.read();
  assert.equal(idle.code, 421);
  assert.ok(await client.closedByServer());
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
});

test("a hanging storage read hits the data stall timeout: 426, session usable", async () => {
  const memory = new MemoryStorage();
  await put(memory, "/hang.bin", randomBytes(64 * 1024));
  await using ts = await startServer({
    storage: faultyStorage(memory, { hangRead: 1000 }),
    dataStallTimeoutMs: 200,
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const started = Date.now();
  const { data, replies } = await client.download("RETR hang.bin");
  const elapsed = Date.now() - started;
  assert.deepEqual(replies.map((r) => r.code), [150, 426]);
  assert.equal(data.length, 1000);
  assert.ok(elapsed >= 200 && elapsed < 3000, `stall detected after ${elapsed} ms`);
  assert.equal((await client.send("NOOP")).code, 200);
  assert.equal((await client.send("SIZE hang.bin")).code, 213);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
});

test("a hanging storage write hits the data stall timeout: 426, nothing stored", async () => {
  const memory = new MemoryStorage();
  await using ts = await startServer({
    storage: faultyStorage(memory, { hangWrite: 1000 }),
    dataStallTimeoutMs: 200,
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("STOR stuck.bin")).code, 150);
  // Send more than the socket buffers hold, so the stall is on the server's side; the
  // connection is closed under us when the stall fires.
  const writing = (async () => {
    const block = randomBytes(MIB);
    try {
      for (let i = 0; i < 32; i++) await data.write(block);
    } catch {
      // closed by the server
    }
  })();
  const reply = await client.read();
  assert.equal(reply.code, 426);
  await writing;
  data.close();
  await assert.rejects(memory.stat("/stuck.bin"));
  assert.equal((await client.send("NOOP")).code, 200);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
});

test("a storage error mid-RETR is 451 (never 226) and the session stays usable", async () => {
  const log = capture();
  const memory = new MemoryStorage();
  const big = randomBytes(MIB);
  const small = randomBytes(50_000);
  await put(memory, "/big.bin", big);
  await put(memory, "/small.bin", small);
  await using ts = await startServer({
    storage: faultyStorage(memory, { failReadAfterBytes: 100_000 }),
    logger: log.logger,
  });
  const client = await ts.client();
  await client.send("TYPE I");
  const broken = await client.download("RETR big.bin");
  assert.deepEqual(broken.replies.map((r) => r.code), [150, 451]);
  assert.ok(broken.data.length <= 100_000, `${broken.data.length} bytes arrived`);
  assert.equal(await sha256(broken.data), await sha256(big.subarray(0, broken.data.length)));
  // Usable afterwards, and again after a second failure.
  assert.equal((await client.send("NOOP")).code, 200);
  const ok = await client.download("RETR small.bin");
  assert.deepEqual(ok.replies.map((r) => r.code), [150, 226]);
  assert.equal(await sha256(ok.data), await sha256(small));
  const again = await client.download("RETR big.bin");
  assert.deepEqual(again.replies.map((r) => r.code), [150, 451]);
  assert.equal((await client.send("PWD")).code, 257);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
  assert.deepEqual(log.lines.filter((l) => l.level === "error"), [], describe(log.lines));
});

test("a client that stops reading a download hits the data stall timeout: 426", async () => {
  const memory = new MemoryStorage();
  await put(memory, "/big.bin", new Uint8Array(48 * MIB));
  await using ts = await startServer({ storage: memory, dataStallTimeoutMs: 300 });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  try {
    assert.equal((await client.send("RETR big.bin")).code, 150);
    // Never read: the socket buffers fill, the server's writes block, no byte moves.
    const started = Date.now();
    assert.equal((await client.read()).code, 426);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 5000, `stall detected after ${elapsed} ms`);
  } finally {
    data.close();
  }
  assert.equal((await client.send("NOOP")).code, 200);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
});

test("a client that goes silent mid-upload hits the data stall timeout: 426, old file kept", async () => {
  const memory = new MemoryStorage();
  const old = randomBytes(1000);
  await put(memory, "/up.bin", old);
  await using ts = await startServer({ storage: memory, dataStallTimeoutMs: 300 });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  try {
    assert.equal((await client.send("STOR up.bin")).code, 150);
    await data.write(randomBytes(100_000)); // then nothing, and no FIN either
    assert.equal((await client.read()).code, 426);
  } finally {
    data.close();
  }
  const kept = new Uint8Array(await new Response(await memory.read("/up.bin")).arrayBuffer());
  assert.equal(await sha256(kept), await sha256(old));
  assert.equal((await client.send("NOOP")).code, 200);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to be released");
});

test("a connection flood over the limits: exactly max_sessions served, the rest 421", async () => {
  const log = capture();
  await using ts = await startServer({
    storage: new MemoryStorage(),
    maxSessions: 20,
    maxSessionsPerIp: 1000,
    logger: log.logger,
  });
  const clients = await Promise.all(
    Array.from({ length: 150 }, () => RawFtpClient.connect(ts.addr)),
  );
  try {
    const codes = clients.map((c) => c.greeting.code);
    assert.equal(codes.filter((c) => c === 220).length, 20);
    assert.equal(codes.filter((c) => c === 421).length, 130);
    assert.equal(ts.server.sessionCount, 20);
  } finally {
    for (const client of clients) client.close();
  }
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the sessions to be released");
  // Connect-and-vanish storm: connections closed at once, before or after the greeting.
  const storm = await Promise.all(
    Array.from({ length: 200 }, () => Deno.connect(ts.addr)),
  );
  for (const conn of storm) conn.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the storm's sessions to be released");
  const client = await ts.client();
  assert.equal((await client.send("NOOP")).code, 200);
  client.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the last session to be released");
  assert.deepEqual(log.lines.filter((l) => l.level === "error"), [], describe(log.lines));
});

test("a session whose client vanished mid-transfer is not timed out afterwards (its idle deadline stays cleared)", async () => {
  // The clean-up cleared the idle deadline, then waited for the aborted
  // transfer, whose end armed it again: the ended session was held until the
  // idle timeout, which then logged it as timed out and wrote it a 421.
  const log = capture();
  await using ts = await startServer({ idleTimeoutMs: 600, logger: log.logger });
  await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(16 << 20));
  const client = await ts.client();
  const data = await client.passive();
  assert.equal((await client.send("RETR big.bin")).code, 150);
  await data.read(new Uint8Array(1000));
  client.close(); // the client vanishes: control and data gone
  data.close();
  await waitFor(() => ts.server.sessionCount === 0, 5000, "the session to end");
  await new Promise((resolve) => setTimeout(resolve, 1000)); // past the idle timeout
  assert.deepEqual(log.lines.filter((l) => l.message.includes("Idle timeout")), []);
});

test("a client that half-closes after its commands (printf … | nc) gets every reply", async () => {
  await using ts = await startServer();
  await Deno.writeFile(`${ts.root}/f.bin`, new Uint8Array(1234));
  const conn = await Deno.connect(ts.addr);
  await conn.write(encoder.encode("USER u\r\nPASS p\r\nSIZE f.bin\r\nNOOP\r\nPWD\r\nQUIT\r\n"));
  await conn.closeWrite(); // FIN: nothing more will come, replies are still read
  let received = "";
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    received += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  conn.close();
  const codes = received.split("\r\n")
    .filter((line) => /^\d{3} /.test(line)).map((line) => Number(line.slice(0, 3)));
  assert.deepEqual(codes, [220, 331, 230, 213, 200, 257, 221]);
});

test("RETR of a FIFO in the served folder is refused at once, not a session stuck for ever", async () => {
  // Opening a FIFO for reading blocks until a writer comes: the session hung in
  // RETR (no ABOR: no transfer yet; the idle timeout closed the socket but not
  // the session), and server.close() waited for it past its grace period.
  await using ts = await startServer({ shutdownGraceMs: 500 });
  const fifo = `${ts.root}/pipe`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success, "mkfifo");
  const client = await ts.client();
  await client.passive();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reply = await Promise.race([
      client.send("RETR pipe"),
      new Promise<"stuck">((resolve) => timer = setTimeout(resolve, 3000, "stuck")),
    ]);
    assert.notEqual(reply, "stuck", "no reply to RETR of a FIFO within 3 s");
    assert.equal((reply as { code: number }).code, 550);
  } finally {
    clearTimeout(timer);
    // Release an open still blocked on the FIFO (the old code), so the test process can end.
    const writer = await Promise.race([
      Deno.open(fifo, { write: true }).catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200)),
    ]);
    writer?.close();
  }
});
