/**
 * What a session costs before login, in resident memory of a real CLI
 * process: many clients that connect and go silent, and many that log in
 * wrongly and then flood the control connection without reading a reply,
 * over plain FTP, explicit FTPS (AUTH TLS) and implicit FTPS. Each phase runs
 * in a fresh server process, so one phase's freed memory can't hide the next
 * one's growth. A good client logs in and transfers a file during each flood.
 */

import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { Client } from "basic-ftp";
import { hashPassword } from "../../src/auth/password_hash.ts";
import { startCli } from "../cli_process.ts";
import { hasCommand, randomBytes, sha256 } from "../helpers.ts";
import { testCertificates } from "../tls_fixture.ts";

const noOpenssl = !hasCommand("openssl");
const certs = noOpenssl ? undefined : await testCertificates();

/** Silent clients, and as many flooding ones, per phase. */
const CLIENTS = 40;
/**
 * Bytes each flooding client sends: a wrong login, again and again. Each
 * failure is answered after login_failure_delay_ms, during which the session
 * reads nothing, so all of it is unread input the server could buffer.
 */
const FLOOD_BYTES = 8 << 20;
/**
 * The most resident memory one session may add on average (half of them
 * silent, half flooding), in KiB. Measured on Deno 2.9 (x86-64): about 90
 * plain and 200 TLS (a silent session costs about 25 plain, 70 TLS). Control
 * connections that buffered up to 1 MiB (plain) or 32 MiB (TLS) of unread
 * input cost 690 and 4,900; 64 KiB, with a chunk's lines all decoded at once,
 * 190 and 330.
 */
const MAX_KIB_PER_SESSION = 256;
/**
 * How much more a TLS session may cost than a plain one, in KiB: the TLS
 * state itself (measured 100 to 120 more; the buffers the server controls are
 * the same size for both).
 */
const TLS_MARGIN_KIB = 160;

type Phase = "plain" | "explicit" | "implicit";
const encoder = new TextEncoder();

/** The resident memory of a process, in KiB. */
async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

/** Read until a final reply line ("ddd text"); returns what was read. */
async function readReply(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(1024);
  let text = "";
  while (!/^\d{3} .*\r\n/m.test(text)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

/** A control connection as far as the phase's TLS goes, greeting read. */
async function connect(phase: Phase, ports: { plain: number; implicit: number }) {
  if (phase === "implicit") {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: ports.implicit,
      caCerts: [certs!.ca],
    });
    await readReply(conn);
    return conn;
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.plain });
  await readReply(conn);
  if (phase === "plain") return conn;
  await conn.write(encoder.encode("AUTH TLS\r\n"));
  assert.match(await readReply(conn), /^234 /m);
  const secure = await Deno.startTls(conn, { hostname: "localhost", caCerts: [certs!.ca] });
  await secure.handshake();
  return secure;
}

/** Log in with basic-ftp, store a file and read it back. */
async function goodClient(phase: Phase, ports: { plain: number; implicit: number }) {
  const client = new Client(10_000);
  try {
    await client.access({
      host: "localhost",
      port: phase === "implicit" ? ports.implicit : ports.plain,
      user: "good",
      password: "good password",
      secure: phase === "plain" ? false : phase === "implicit" ? "implicit" : true,
      secureOptions: { ca: certs!.ca, servername: "localhost" },
    });
    const data = randomBytes(300_000);
    await client.uploadFrom(Readable.from([data]), "good.bin");
    const chunks: Uint8Array[] = [];
    await client.downloadTo(
      new Writable({
        write(chunk, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      }),
      "good.bin",
    );
    const back = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
    assert.equal(await sha256(back), await sha256(data));
  } finally {
    client.close();
  }
}

/**
 * Poll the process's RSS until it grew by less than 1 MiB over the last
 * second (the floods have filled every buffer they can), with a deadline.
 */
async function settledRss(pid: number, deadlineMs: number): Promise<number> {
  const samples = [await rssKiB(pid)];
  const stop = Date.now() + deadlineMs;
  while (Date.now() < stop) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    samples.push(await rssKiB(pid));
    if (samples.length > 4 && samples.at(-1)! - samples.at(-5)! < 1024) break;
  }
  return samples.at(-1)!;
}

/** Run one phase in a fresh server; returns the RSS growth per session in KiB. */
async function phaseCost(phase: Phase, dir: string): Promise<number> {
  const cli = await startCli(["--config", `${dir}/exftp.yaml`], {
    until: /Accepting implicit FTPS connections on [^\n]*:\d+\n/,
  });
  const ports = {
    plain: cli.port,
    implicit: Number(/implicit FTPS connections on [^\n]*:(\d+)\n/.exec(cli.seen)![1]),
  };
  const conns: Deno.Conn[] = [];
  const floods: Promise<unknown>[] = [];
  let cut = 0;
  try {
    // Warm up the code paths (TLS, login, transfers) before the baseline.
    await goodClient(phase, ports);
    const before = await settledRss(cli.child.pid, 3000);
    const flood = encoder.encode(
      "USER intruder\r\nPASS wrong\r\n".repeat(FLOOD_BYTES / 26),
    );
    for (let i = 0; i < 2 * CLIENTS; i++) {
      const conn = await connect(phase, ports);
      conns.push(conn);
      if (i % 2 === 0) continue; // silent
      floods.push(
        (async () => {
          let offset = 0;
          while (offset < flood.length) offset += await conn.write(flood.subarray(offset));
        })().catch(() => cut++),
      );
    }
    const grown = (await settledRss(cli.child.pid, 6000)) - before;
    // The floods were held, not dropped: every flooding session is still there.
    assert.equal(cut, 0, `${phase}: the server closed ${cut} flooding connections`);
    await goodClient(phase, ports);
    return grown / (2 * CLIENTS);
  } finally {
    for (const conn of conns) conn.close();
    await Promise.all(floods);
    const { code } = await cli.stop();
    assert.equal(code, 0);
  }
}

Deno.test({
  name: "silent and flooding clients before login cost as little over TLS as over plain FTP",
  ignore: noOpenssl || Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/users.yaml`,
        `users: [{ username: good, password_hash: "${await hashPassword("good password", {
          iterations: 1000,
        })}" }]\n`,
      );
      await Deno.mkdir(`${dir}/files`);
      await Deno.writeTextFile(
        `${dir}/exftp.yaml`,
        [
          "ftp_port: 0",
          "ftps_port: 0",
          "max_sessions: 1000",
          "max_sessions_per_ip: 1000",
          // The floods fail logins for good: never ban the address or close early.
          "max_login_failures: 1000000",
          "ban_after_failures: 0",
          "authenticator: users_file",
          `authenticator_config: { path: ${dir}/users.yaml }`,
          `storage_config: { root: ${dir}/files }`,
          "tls:",
          `  cert: ${certs!.certFile}`,
          `  key: ${certs!.keyFile}`,
        ].join("\n"),
      );
      const cost: Partial<Record<Phase, number>> = {};
      for (const phase of ["plain", "explicit", "implicit"] as const) {
        cost[phase] = await phaseCost(phase, dir);
      }
      const shown = Object.entries(cost).map(([p, kib]) => `${p} ${kib!.toFixed(0)} KiB`);
      console.log(`RSS growth per session: ${shown.join(", ")}`);
      for (const [phase, kib] of Object.entries(cost)) {
        assert.ok(kib! <= MAX_KIB_PER_SESSION, `${phase}: ${kib} KiB per session`);
        assert.ok(
          kib! <= cost.plain! + TLS_MARGIN_KIB,
          `${phase}: ${kib} KiB per session, plain ${cost.plain} KiB`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
