/**
 * What an idle logged-in session holds, without timing anything: the control
 * line reader keeps only small buffers between commands, and a server process
 * holding many idle logged-in sessions grows, per session and after a forced
 * garbage collection, by little JS heap and almost no ArrayBuffer memory.
 *
 * The second test runs this file as a separate process (`deno run
 * --v8-flags=--expose-gc`), which serves FTP and reports its memory when asked.
 * Measured on Deno 2.9 (x86-64) with 10,000 sessions, before the fixes of
 * issue 16: 8.5 KiB of ArrayBuffers (an 8 KiB read buffer, a 512-byte line
 * buffer) and 9.8 KiB of JS heap per session; after: 0.6 and 6.3. Then an
 * idle session stopped holding a pending read, a timer, and its own copies of
 * shared things (bench/README.md, "Idle sessions, second pass"): 0.0 and 3.1.
 * This test's 1,000 sessions: 0.56 KiB + 7.16 KiB before that, 0.00 + 3.56 after.
 */

import assert from "node:assert/strict";
import {
  ControlLineSplitter,
  READ_BUFFER_BYTES,
  readControlLines,
} from "../../src/control/line_reader.ts";
import { FtpServer, MemoryStorage, PassthroughAuthenticator, silentLogger } from "../../mod.ts";

/** Logged-in sessions the process test holds. */
const SESSIONS = 1000;
/** ArrayBuffer bytes one idle session may hold, in KiB (measured 0.00; 0.56, 8.5 before). */
const MAX_EXTERNAL_KIB = 0.25;
/** JS heap plus ArrayBuffers one idle session may hold, in KiB (measured 3.6; 7.7, 18 before). */
const MAX_HEAP_KIB = 5;

Deno.test("the control line reader reads into a small buffer and keeps no large line buffer", async () => {
  const sizes: number[] = [];
  const chunks = [
    new TextEncoder().encode("USER anonymous\r\nPASS x\r\n"),
    new TextEncoder().encode("STOR " + "x".repeat(3000) + "\r\nNOOP\r\n"),
  ];
  const source = {
    read(p: Uint8Array): Promise<number | null> {
      sizes.push(p.byteLength);
      const chunk = chunks[0];
      if (!chunk) return Promise.resolve(null);
      const n = Math.min(p.length, chunk.length);
      p.set(chunk.subarray(0, n));
      if (n === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(n);
      return Promise.resolve(n);
    },
  };
  const lines: string[] = [];
  for await (const line of readControlLines(source)) lines.push(line.text);
  assert.deepEqual(lines.map((l) => l.slice(0, 8)), ["USER ano", "PASS x", "STOR xxx", "NOOP"]);
  assert.equal(lines[2].length, 3005);
  // The pending read of an idle session holds this buffer.
  assert.ok(Math.max(...sizes) <= READ_BUFFER_BYTES, `read buffers: ${sizes}`);
  assert.ok(READ_BUFFER_BYTES <= 1024);

  const splitter = new ControlLineSplitter();
  assert.equal(splitter.retainedBytes, 0, "nothing before the first byte");
  splitter.push(new TextEncoder().encode("NOOP\r\n"));
  assert.ok(splitter.retainedBytes <= 64, `after a short line: ${splitter.retainedBytes}`);
  splitter.push(new TextEncoder().encode("STOR " + "y".repeat(4000) + "\r\n"));
  assert.ok(splitter.retainedBytes <= 512, `after a long line: ${splitter.retainedBytes}`);
});

/** Read until a final reply line; throws if the connection closes first. */
async function readReply(conn: Deno.Conn, buffer: Uint8Array): Promise<string> {
  let text = "";
  while (!/^\d{3} .*\r\n/m.test(text)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

async function logIn(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(512);
  try {
    assert.match(await readReply(conn, buffer), /^220 /m);
    await conn.write(new TextEncoder().encode("USER idle\r\nPASS secret\r\n"));
    let replies = await readReply(conn, buffer);
    if (!/^230 /m.test(replies)) replies += await readReply(conn, buffer);
    assert.match(replies, /^230 /m);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

interface Memory {
  heapUsed: number;
  external: number;
  rss: number;
}

Deno.test({
  name: "idle logged-in sessions hold little JS heap and almost no ArrayBuffer memory each",
  sanitizeResources: true,
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", import.meta.filename!],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = child.stdin.getWriter();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    const nextLine = async (): Promise<string> => {
      while (!pending.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the server process ended: ${pending}`);
        pending += value;
      }
      const line = pending.slice(0, pending.indexOf("\n"));
      pending = pending.slice(line.length + 1);
      return line;
    };
    const measure = async (): Promise<Memory> => {
      await writer.write(new TextEncoder().encode("measure\n"));
      return JSON.parse(await nextLine());
    };
    const conns: Deno.Conn[] = [];
    try {
      const port = Number(await nextLine());
      // Warm up the login path (compiled code, lazily created tables) before the baseline.
      for (const conn of await Promise.all(Array.from({ length: 20 }, () => logIn(port)))) {
        conn.close();
      }
      const before = await measure();
      for (let i = 0; i < SESSIONS; i += 100) {
        conns.push(...await Promise.all(Array.from({ length: 100 }, () => logIn(port))));
      }
      const after = await measure();
      const perSession = (key: keyof Memory) => (after[key] - before[key]) / SESSIONS / 1024;
      const report = `per session: ${perSession("external").toFixed(2)} KiB ArrayBuffers, ${
        perSession("heapUsed").toFixed(2)
      } KiB heap, ${perSession("rss").toFixed(1)} KiB RSS`;
      console.log(report);
      assert.ok(perSession("external") <= MAX_EXTERNAL_KIB, report);
      assert.ok(perSession("external") + perSession("heapUsed") <= MAX_HEAP_KIB, report);
    } finally {
      for (const conn of conns) conn.close();
      await writer.close();
      await lines.cancel();
      await child.status;
    }
  },
});

/** The server process: prints its port, then its memory after a full GC per line read. */
async function serveAndReport(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const server = new FtpServer({
    hostname: "127.0.0.1",
    port: 0,
    maxSessions: 10_000,
    maxSessionsPerIp: 10_000,
    logger: silentLogger,
    authenticator: new PassthroughAuthenticator(),
    storage: new MemoryStorage(),
  });
  const { port } = await server.listen();
  console.log(port);
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const _ of input) {
    await new Promise((resolve) => setTimeout(resolve, 200)); // replies written, reads pending
    gc();
    gc();
    const { heapUsed, external } = Deno.memoryUsage();
    const status = Deno.readTextFileSync("/proc/self/status");
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
    console.log(JSON.stringify({ heapUsed, external, rss }));
  }
  await server.close();
}

if (import.meta.main) await serveAndReport();
