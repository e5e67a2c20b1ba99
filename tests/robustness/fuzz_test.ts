/**
 * Fuzzed control lines against a real server over a temp folder (seeded, replayable).
 *
 *   deno test -A tests/robustness/fuzz_test.ts                       # short (CI)
 *   FUZZ_SEED=123 FUZZ_ITERATIONS=200000 deno test -A tests/robustness/fuzz_test.ts
 *   deno task fuzz                                                    # long run
 *
 * Invariants checked: every reply is well formed (code, no raw CR/LF inside a line); the
 * session answers a sync command after every line (or closed after 221/421); after each batch
 * NOOP gets 200 on the same and on a fresh connection; the server never logs an error and
 * leaves no unhandled rejection; nothing appears (or disappears) outside the root; the
 * session count returns to 0 once the clients close.
 */

import assert from "node:assert/strict";
import * as path from "node:path";
import { FileStorage, PassthroughAuthenticator } from "../../mod.ts";
import { FtpServer } from "../../src/server.ts";
import type { LogLevel } from "../../src/log.ts";
import { waitFor } from "../helpers.ts";
import { concat, FuzzGenerator } from "./fuzz_gen.ts";
import { test } from "../deadline.ts";

const DEFAULT_SEED = 0x5eed0007;
const DEFAULT_ITERATIONS = 3000;
const BATCH = 25;
/** Reconnect this often so the login timeout never fires on a fuzzed connection. */
const LINES_PER_CONNECTION = 600;
const REPLY_DEADLINE_MS = 15_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function envNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number: ${raw}`);
  return n;
}

/** A listener that PORT/EPRT may point at: reads briefly (or not at all), then closes. */
class Sink {
  readonly listener: Deno.TcpListener;
  readonly #loop: Promise<void>;
  readonly #open = new Set<Promise<void>>();
  constructor(readonly holdMs: number) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#loop = this.#accept();
  }
  get port(): number {
    return this.listener.addr.port;
  }
  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.listener.accept();
      } catch {
        return;
      }
      const job = this.#serve(conn);
      this.#open.add(job);
      job.finally(() => this.#open.delete(job));
    }
  }
  async #serve(conn: Deno.TcpConn): Promise<void> {
    const timer = setTimeout(() => conn.close(), this.holdMs);
    const buffer = new Uint8Array(65536);
    try {
      while ((await conn.read(buffer)) !== null) { /* discard */ }
      clearTimeout(timer);
      conn.close();
    } catch {
      clearTimeout(timer);
    }
  }
  async close(): Promise<void> {
    this.listener.close();
    await this.#loop;
    await Promise.all(this.#open);
  }
}

/** A control connection that reads replies without trusting them. */
class FuzzConnection {
  #buffer: Uint8Array = new Uint8Array(0);
  closed = false;
  constructor(readonly conn: Deno.TcpConn) {}

  static async open(port: number): Promise<FuzzConnection> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true); // no Nagle delay between a line and its sync command
    return new FuzzConnection(conn);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  /** The next CRLF-terminated line, or null at EOF/reset. */
  async #line(deadline: number): Promise<string | null> {
    while (true) {
      for (let i = 0; i + 1 < this.#buffer.length; i++) {
        if (this.#buffer[i] === 13 && this.#buffer[i + 1] === 10) {
          const line = decoder.decode(this.#buffer.subarray(0, i));
          this.#buffer = this.#buffer.slice(i + 2);
          return line;
        }
      }
      const chunk = new Uint8Array(65536);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      let n: number | null | "timeout";
      try {
        n = await Promise.race([this.conn.read(chunk), timeout]);
      } catch {
        n = null;
      } finally {
        clearTimeout(timer);
      }
      if (n === "timeout") throw new Error("no reply before the deadline");
      if (n === null) {
        this.closed = true;
        return null;
      }
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }

  /** One reply; null if the connection ended. Throws on a malformed reply. */
  async reply(deadline = Date.now() + REPLY_DEADLINE_MS): Promise<Reply | null> {
    const first = await this.#line(deadline);
    if (first === null) return null;
    const match = /^([1-5]\d\d)([ -])/.exec(first);
    if (!match) throw new Error(`malformed reply line ${JSON.stringify(first)}`);
    const lines = [first];
    if (match[2] === "-") {
      while (true) {
        const line = await this.#line(deadline);
        if (line === null) throw new Error(`connection ended inside ${JSON.stringify(lines)}`);
        lines.push(line);
        if (line.startsWith(`${match[1]} `)) break;
      }
    }
    for (const line of lines) {
      if (/[\r\n]/.test(line)) throw new Error(`raw CR/LF inside reply ${JSON.stringify(line)}`);
    }
    return { code: Number(match[1]), lines };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* gone */ }
  }
}

interface Reply {
  code: number;
  lines: string[];
}

function show(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  return text.length > 200 ? `${JSON.stringify(text.slice(0, 200))}…(${bytes.length} bytes)` : (
    JSON.stringify(text) + (/\ufffd/.test(text) ? ` hex=${hex(bytes.subarray(0, 100))}` : "")
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Names under `dir` (recursively), and whether any is a symlink. */
async function walk(dir: string): Promise<{ entries: number; symlinks: string[] }> {
  let entries = 0;
  const symlinks: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    entries++;
    const full = path.join(dir, entry.name);
    if (entry.isSymlink) symlinks.push(full);
    else if (entry.isDirectory) {
      const sub = await walk(full);
      entries += sub.entries;
      symlinks.push(...sub.symlinks);
    }
  }
  return { entries, symlinks };
}

async function namesContaining(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.includes(marker)) found.push(path.join(dir, entry.name));
    }
  } catch { /* unreadable: nothing to see */ }
  return found;
}

test({
  name: "fuzzed command lines never crash the server or escape the root",
  // Long runs (deno task fuzz) get time in proportion; the CI run, the default minute.
  deadlineMs: Math.max(60_000, envNumber("FUZZ_ITERATIONS", DEFAULT_ITERATIONS) * 20),
  fn: fuzz,
});

async function fuzz(): Promise<void> {
  const seed = envNumber("FUZZ_SEED", DEFAULT_SEED);
  const iterations = envNumber("FUZZ_ITERATIONS", DEFAULT_ITERATIONS);
  const outer = await Deno.makeTempDir({ prefix: "exftp-fuzz-" });
  const root = path.join(outer, "root");
  const marker = `zzesc${seed.toString(36)}`;
  await Deno.mkdir(path.join(root, "d"), { recursive: true });
  await Deno.writeTextFile(path.join(root, "f.txt"), "hello\n");
  await Deno.writeFile(path.join(root, "d", "e.bin"), new Uint8Array(3000).fill(7));
  await Deno.writeTextFile(path.join(outer, "sentinel.txt"), "keep me");
  await Deno.mkdir(path.join(outer, "emptydir"));
  const outsideBefore = (await Array.fromAsync(Deno.readDir(outer))).map((e) => e.name).sort();

  const logs: { level: LogLevel; message: string; fields?: Record<string, unknown> }[] = [];
  const server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    loginFailureDelayMs: 0,
    passiveAcceptTimeoutMs: 40,
    dataStallTimeoutMs: 1000,
    maxSessionsPerIp: 50,
    banAfterFailures: 0, // the fuzzer fails logins on purpose; a ban would refuse the checks
    authenticator: new PassthroughAuthenticator(),
    storage: new FileStorage({ root }),
    logger: (level, message, fields) => {
      if (level === "error") logs.push({ level, message, fields });
    },
  });
  const { port } = await server.listen();
  const sinks = [new Sink(20), new Sink(0)];
  const gen = new FuzzGenerator(seed, {
    safePorts: sinks.map((s) => s.port),
    outerDir: outer,
    marker,
  });
  const rng = gen.rng;
  const rejections: unknown[] = [];
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    rejections.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);

  let conn: FuzzConnection | undefined;
  let linesOnConnection = 0;
  let sync = 0;
  let closedByServer = 0;
  const codes = new Map<number, number>();
  const recent: string[] = []; // the lines sent since the last check, for the failure report
  const started = Date.now();

  const fail = (what: string, cause?: unknown): never => {
    throw new Error(
      `fuzz failure: ${what}\n  seed=${seed} (rerun: FUZZ_SEED=${seed} FUZZ_ITERATIONS=${iterations})` +
        `\n  the server's folder is kept for a look: ${outer}` +
        `\n  lines since the last good check (oldest first):\n    ${recent.join("\n    ")}` +
        (cause ? `\n  cause: ${cause instanceof Error ? cause.stack : String(cause)}` : ""),
      { cause },
    );
  };

  const connect = async () => {
    conn = await FuzzConnection.open(port);
    linesOnConnection = 0;
    const greeting = await conn.reply();
    if (greeting?.code !== 220) fail(`greeting was ${JSON.stringify(greeting)}`);
    if (rng.chance(0.85)) {
      await conn.write(encoder.encode("USER fuzz\r\nPASS secret\r\n"));
      await conn.reply();
      await conn.reply();
    }
  };

  /**
   * Send a unique unknown verb and read replies up to its 500. Returns false when the server
   * closed the connection first (then the last reply must have been 221 or 421).
   */
  const syncUp = async (): Promise<boolean> => {
    const token = `XSYNC${++sync}`;
    // The CRLF first ends whatever the fuzzed bytes left open (e.g. IAC WILL eating a CR).
    await conn!.write(encoder.encode(`\r\n${token}\r\n`)).catch(() => {});
    let last: Reply | null = null;
    while (true) {
      let reply: Reply | null;
      try {
        reply = await conn!.reply();
      } catch (error) {
        return fail(`reading replies: ${(error as Error).message}`, error);
      }
      if (reply === null) {
        closedByServer++;
        // A reset can discard the last reply; otherwise it must say why it closed.
        if (last && last.code !== 221 && last.code !== 421) {
          const sent = recent.join(" ");
          if (!/QUIT|PASS|USER/i.test(sent)) {
            fail(`server closed the connection after ${JSON.stringify(last.lines)}`);
          }
        }
        conn!.close();
        return false;
      }
      if (reply.code === 500 && reply.lines[0].includes(`"${token}"`)) return true;
      codes.set(reply.code, (codes.get(reply.code) ?? 0) + 1);
      last = reply;
    }
  };

  const checkBatch = async () => {
    if (rejections.length) fail("unhandled rejection", rejections[0]);
    if (logs.length) fail(`server logged an error: ${JSON.stringify(logs[0])}`);
    if (conn && !conn.closed) {
      await conn.write(encoder.encode("NOOP\r\n")).catch(() => {});
      const reply = await conn.reply().catch((e) => fail("NOOP on the same connection", e));
      if (reply === null) conn.close();
      else if (reply.code !== 200) fail(`NOOP on the same connection got ${reply.lines}`);
    }
    const fresh = await FuzzConnection.open(port);
    try {
      const greeting = await fresh.reply();
      if (greeting?.code !== 220) fail(`fresh greeting ${JSON.stringify(greeting)}`);
      await fresh.write(encoder.encode("NOOP\r\n"));
      const reply = await fresh.reply();
      if (reply?.code !== 200) fail(`NOOP on a fresh connection got ${JSON.stringify(reply)}`);
    } finally {
      fresh.close();
    }
    const outside = (await Array.fromAsync(Deno.readDir(outer))).map((e) => e.name).sort();
    if (JSON.stringify(outside) !== JSON.stringify(outsideBefore)) {
      fail(`the folder around the root changed: ${JSON.stringify(outside)}`);
    }
    recent.length = 0;
  };

  try {
    let sent = 0;
    while (sent < iterations) {
      if (!conn || conn.closed || linesOnConnection >= LINES_PER_CONNECTION) {
        conn?.close();
        await connect();
      }
      // Usually one line then a sync; sometimes several lines pipelined in one go.
      const group = rng.chance(0.8) ? 1 : rng.range(2, 8);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < group; i++) {
        const line = gen.line();
        recent.push(show(line));
        // Keep each line's bytes apart from the last one's leftovers (see syncUp).
        parts.push(i === 0 ? line : concat(encoder.encode("\r\n"), line));
      }
      const bytes = concat(...parts);
      // Deliver in random pieces: split segments must parse like whole ones.
      let at = 0;
      try {
        while (at < bytes.length) {
          const size = rng.chance(0.7) ? bytes.length - at : rng.range(1, bytes.length - at);
          await conn!.write(bytes.subarray(at, at + size));
          at += size;
        }
      } catch {
        // The server closed (QUIT, too many failed logins) while we were writing.
      }
      sent += group;
      linesOnConnection += group;
      await syncUp();
      if (Math.floor(sent / BATCH) !== Math.floor((sent - group) / BATCH)) await checkBatch();
    }
    await checkBatch();
  } finally {
    conn?.close();
    globalThis.removeEventListener("unhandledrejection", onRejection);
    try {
      await waitFor(() => server.sessionCount === 0, 10_000, "sessions to close");
    } finally {
      await server.close();
      await Promise.all(sinks.map((s) => s.close()));
    }
  }
  const seconds = (Date.now() - started) / 1000;

  // Nothing escaped the root: the folder around it is unchanged, no marker anywhere else.
  const outside = (await Array.fromAsync(Deno.readDir(outer))).map((e) => e.name).sort();
  assert.deepEqual(outside, outsideBefore);
  assert.equal(await Deno.readTextFile(path.join(outer, "sentinel.txt")), "keep me");
  for (const dir of [path.dirname(outer), "/", "/tmp", Deno.cwd(), "/etc"]) {
    assert.deepEqual(await namesContaining(dir, marker), [], `marker found in ${dir}`);
  }
  const { entries, symlinks } = await walk(root);
  assert.deepEqual(symlinks, []);
  assert.equal(server.sessionCount, 0);
  assert.deepEqual(rejections, []);
  assert.deepEqual(logs, []);
  console.log(
    `fuzz: seed=${seed} lines=${iterations} syncs=${sync} closedByServer=${closedByServer} ` +
      `entriesInRoot=${entries} ${seconds.toFixed(1)} s\n  replies by code: ${
        [...codes].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}:${n}`).join(" ")
      }`,
  );
  await Deno.remove(outer, { recursive: true });
}
