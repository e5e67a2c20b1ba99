/**
 * Chaos: many hostile clients at once reset or go silent at the worst moments (replies queued
 * behind an active-mode transfer, mid-download, mid-upload, mid-TLS handshake on AUTH TLS and on
 * implicit FTPS, during a login that waits for a slow HTTP auth service), while well-behaved
 * clients keep logging in and moving byte-exact data, in plain and in TLS. The server runs as the
 * CLI in its own process, so "the process never exits" is checked for real: the test fails if it
 * exits, if a good client is refused, or if its log shows an unhandled rejection (which the CLI's
 * last-resort handler would otherwise survive).
 */

import assert from "node:assert/strict";
import { type CliProcess, startCli } from "../cli_process.ts";
import { test } from "../deadline.ts";
import { randomBytes, sha256 } from "../helpers.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { type TestCertificates, testCertificates } from "../tls_fixture.ts";

const encoder = new TextEncoder();
/** How long the hostile waves run. */
const CHAOS_MS = 7_000;
const BIG = 8 * 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Close; with unread bytes in the receive buffer this is a TCP reset. */
function drop(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Read and discard until the peer closes or `ms` pass (then reset). */
async function drain(conn: Deno.Conn, ms: number): Promise<void> {
  const buffer = new Uint8Array(65536);
  const timer = setTimeout(() => drop(conn), ms);
  try {
    while ((await conn.read(buffer)) !== null) {
      // discard
    }
  } catch {
    // reset or closed by us
  } finally {
    clearTimeout(timer);
  }
}

/** A slow `basic` auth service: password "good" is accepted; users named slow* wait 1.5 s. */
function authService(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const header = request.headers.get("authorization") ?? "";
    const [user, password] = atob(header.replace(/^Basic /, "")).split(":");
    await sleep(user.startsWith("slow") ? 1500 : 20);
    return new Response(null, { status: password === "good" ? 200 : 401 });
  });
}

interface Chaos {
  cli: CliProcess;
  ftpsPort: number;
  certs: TestCertificates;
  root: string;
  until: number;
}

/** Loop `scenario` until the chaos window closes; hostile failures are expected and ignored. */
async function hostile(chaos: Chaos, scenario: (chaos: Chaos) => Promise<void>): Promise<number> {
  let rounds = 0;
  while (Date.now() < chaos.until) {
    await scenario(chaos).catch(() => {});
    rounds++;
  }
  return rounds;
}

async function connect(port: number): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: "127.0.0.1", port });
}

/** A queued command with a 4 KB reply (553 quotes the name), so replies back up quickly. */
const BULKY = `SIZE ${"n".repeat(3900)}\r\n`;

/**
 * The first finding of issue 10: commands queued behind active-mode RETRs, replies never read,
 * until the server's writes block inside the queue runner; then a reset (or silence until the
 * idle timeout closes the connection).
 */
async function queuedRepliesThenReset(chaos: Chaos, silent: boolean): Promise<void> {
  const conn = await connect(chaos.cli.port);
  const data = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = data.addr;
  try {
    await writeText(conn, "USER queue\r\nPASS good\r\nTYPE I\r\n");
    while (Date.now() < chaos.until) {
      await writeText(
        conn,
        `PORT 127,0,0,1,${port >> 8},${port & 255}\r\nRETR small.bin\r\n` + BULKY.repeat(10),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const accepted = await Promise.race([
        data.accept(),
        new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 500)),
      ]).finally(() => clearTimeout(timer));
      if (!accepted) break; // the server's replies back up: it is blocked writing
      await drain(accepted, 2000);
    }
    if (silent) await sleep(2500); // past the idle timeout, which closes it server-side
  } finally {
    data.close();
    drop(conn); // unread replies: a reset
  }
}

/** Passive RETR of a big file: read a little of it, then reset both connections. */
async function resetMidDownload(chaos: Chaos): Promise<void> {
  const conn = await connect(chaos.cli.port);
  let data: Deno.Conn | undefined;
  try {
    await writeText(conn, "USER down\r\nPASS good\r\nTYPE I\r\nEPSV\r\n");
    const port = await epsvPort(conn);
    data = await connect(port);
    await writeText(conn, "RETR big.bin\r\nNOOP\r\nNOOP\r\n");
    await data.read(new Uint8Array(65536));
    await sleep(Math.random() * 100);
  } finally {
    drop(data);
    drop(conn);
  }
}

/** Passive STOR: send part of a file, then reset (or go silent with the data half-sent). */
async function resetMidUpload(chaos: Chaos): Promise<void> {
  const conn = await connect(chaos.cli.port);
  let data: Deno.Conn | undefined;
  try {
    await writeText(conn, "USER up\r\nPASS good\r\nTYPE I\r\nEPSV\r\n");
    const port = await epsvPort(conn);
    data = await connect(port);
    await writeText(conn, `STOR upload-${crypto.randomUUID()}.bin\r\nNOOP\r\n`);
    await data.write(randomBytes(64 * 1024));
    await sleep(Math.random() * 100);
  } finally {
    drop(data);
    drop(conn);
  }
}

/** Read the control connection up to the 229 reply and return its port. */
async function epsvPort(conn: Deno.Conn): Promise<number> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  while (true) {
    const match = /229 [^\n]*\(\|\|\|(\d+)\|\)/.exec(text);
    if (match) return Number(match[1]);
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`closed before 229: ${text}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
}

/** A TLS ClientHello cut short: enough to start the server's handshake, never enough to end it. */
const PARTIAL_HELLO = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);

/** AUTH TLS, then half a handshake, then a reset or silence. */
async function resetMidAuthTls(chaos: Chaos): Promise<void> {
  const conn = await connect(chaos.cli.port);
  try {
    await writeText(conn, "AUTH TLS\r\n");
    await sleep(Math.random() * 50);
    if (Math.random() < 0.5) await conn.write(PARTIAL_HELLO);
    if (Math.random() < 0.3) await drain(conn, 300); // silent for a while, then reset
  } finally {
    drop(conn);
  }
}

/** Implicit FTPS: half a handshake (or none), then a reset; or a real handshake, then a reset. */
async function resetMidImplicitTls(chaos: Chaos): Promise<void> {
  const conn = await connect(chaos.ftpsPort);
  const choice = Math.random();
  if (choice < 0.4) {
    await conn.write(PARTIAL_HELLO).catch(() => 0);
    await sleep(Math.random() * 50);
    drop(conn);
    return;
  }
  if (choice < 0.6) {
    drop(conn);
    return;
  }
  const tls = Deno.startTls(conn, { hostname: "localhost", caCerts: [chaos.certs.ca] });
  try {
    await (await tls).write(encoder.encode("USER tls\r\nPASS good\r\nLIST\r\n"));
  } finally {
    drop(await tls.catch(() => undefined));
  }
}

/** USER/PASS to the slow auth service, then a reset before (or while) it answers. */
async function resetDuringLogin(chaos: Chaos): Promise<void> {
  const conn = await connect(chaos.cli.port);
  try {
    await writeText(conn, `USER slow${Math.random()}\r\nPASS good\r\nPWD\r\n`);
    await sleep(Math.random() * 1800);
  } finally {
    drop(conn); // the 220 is unread: a reset
  }
}

/** STOR over passive; the data connection ends with closeWrite (TLS close_notify: not cut). */
async function upload(client: RawFtpClient, command: string, bytes: Uint8Array) {
  const data = await client.passive();
  try {
    const first = await client.send(command);
    if (first.code !== 150) return [first];
    let offset = 0;
    while (offset < bytes.length) offset += await data.write(bytes.subarray(offset));
    await (data as Deno.TcpConn).closeWrite();
    return [first, await client.read()];
  } finally {
    drop(data);
  }
}

/** A good client: log in, upload, download, compare. Any failure fails the test. */
async function goodClient(chaos: Chaos, id: number, tls: boolean): Promise<number> {
  let rounds = 0;
  while (Date.now() < chaos.until || rounds === 0) {
    using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: chaos.cli.port });
    assert.equal(client.greeting.code, 220, `good client ${id} greeted`);
    if (tls) await client.startTls(chaos.certs.ca);
    await client.login(`good${id}`, "good");
    assert.equal((await client.send("TYPE I")).code, 200);
    const bytes = randomBytes(64 * 1024 + Math.floor(Math.random() * 256 * 1024));
    const name = `good-${id}-${rounds}.bin`;
    const stored = await upload(client, `STOR ${name}`, bytes);
    assert.equal(stored.at(-1)?.code, 226, `good client ${id} STOR: ${stored.at(-1)?.text}`);
    const fetched = await client.download(`RETR ${name}`);
    assert.equal(fetched.replies.at(-1)?.code, 226, `good client ${id} RETR`);
    assert.equal(await sha256(fetched.data), await sha256(bytes), `good client ${id} bytes`);
    assert.equal((await client.send("QUIT")).code, 221);
    rounds++;
  }
  return rounds;
}

test({
  name: "chaos: hostile clients reset and stall at the worst moments; the CLI process serves on",
  deadlineMs: 60_000,
  async fn() {
    const certs = await testCertificates();
    const root = await Deno.makeTempDir({ prefix: "exftp-chaos-" });
    const auth = authService();
    let cli: CliProcess | undefined;
    try {
      await Deno.writeFile(`${root}/big.bin`, randomBytes(BIG));
      await Deno.writeFile(`${root}/small.bin`, randomBytes(4096));
      await Deno.writeTextFile(
        `${root}/exftp.yaml`,
        [
          "ftp_port: 0",
          "ftps_port: 0",
          "min_passive_port: 0",
          "max_passive_port: 0",
          "max_sessions: 1000",
          "max_sessions_per_ip: 1000",
          "ban_after_failures: 0",
          "idle_timeout_s: 2",
          "login_timeout_s: 4",
          "authenticator: basic",
          `authenticator_config: { login_url: "http://127.0.0.1:${auth.addr.port}/login" }`,
          `storage_config: { root: ${root} }`,
          "tls:",
          `  cert: ${certs.certFile}`,
          `  key: ${certs.keyFile}`,
        ].join("\n"),
      );
      cli = await startCli(["--config", `${root}/exftp.yaml`], {
        until: /implicit FTPS connections on [^\n]*:(\d+)\n/,
      });
      const ftpsPort = Number(/implicit FTPS connections on [^\n]*:(\d+)\n/.exec(cli.seen)![1]);
      let exited = false;
      cli.child.status.then(() => exited = true);
      const chaos: Chaos = { cli, ftpsPort, certs, root, until: Date.now() + CHAOS_MS };

      const hostiles = [
        ...Array.from(
          { length: 4 },
          (_, i) => hostile(chaos, (c) => queuedRepliesThenReset(c, i % 2 === 1)),
        ),
        ...Array.from({ length: 3 }, () => hostile(chaos, resetMidDownload)),
        ...Array.from({ length: 3 }, () => hostile(chaos, resetMidUpload)),
        ...Array.from({ length: 3 }, () => hostile(chaos, resetMidAuthTls)),
        ...Array.from({ length: 3 }, () => hostile(chaos, resetMidImplicitTls)),
        ...Array.from({ length: 4 }, () => hostile(chaos, resetDuringLogin)),
      ];
      const good = [
        ...Array.from({ length: 3 }, (_, i) => goodClient(chaos, i, false)),
        ...Array.from({ length: 2 }, (_, i) => goodClient(chaos, 10 + i, true)),
      ];
      const goodRounds = await Promise.all(good);
      const hostileRounds = await Promise.all(hostiles);
      assert.ok(hostileRounds.every((n) => n > 0), `every hostile kind ran: ${hostileRounds}`);
      assert.ok(goodRounds.every((n) => n > 0), `every good client finished rounds: ${goodRounds}`);

      // After the storm: still alive, still serving.
      assert.equal(exited, false, "the server process is still running");
      await goodClient({ ...chaos, until: 0 }, 99, false);
      assert.equal(exited, false, "the server process is still running");
    } finally {
      const stopped: { code: number; stderr: string } | undefined = cli
        ? await cli.stop()
        : undefined;
      await auth.shutdown();
      await Deno.remove(root, { recursive: true }).catch(() => {});
      if (stopped) {
        const errors = stopped.stderr.split("\n").filter((line) =>
          / ERROR |Unhandled promise rejection|Uncaught/.test(line)
        );
        assert.deepEqual(errors, [], "no unhandled rejection, no session failed with an error");
        assert.equal(
          stopped.code,
          0,
          `clean exit on SIGTERM; log:\n${stopped.stderr.slice(-3000)}`,
        );
      }
    }
  },
});
