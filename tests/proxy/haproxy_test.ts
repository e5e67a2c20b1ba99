/**
 * One exftp node (the CLI, configured with the README's "Behind a load
 * balancer" settings) behind Debian's HAProxy running `examples/haproxy.cfg`,
 * both on loopback addresses, with real clients (curl, lftp, Python's ftplib)
 * bound to addresses of their own so that the PROXY headers name different
 * clients although every connection reaches exftp from HAProxy.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CliProcess, startCli } from "../cli_process.ts";
import { test } from "../deadline.ts";
import { hasCommand, randomBytes, sha256 } from "../helpers.ts";
import { run, runOk } from "../integration/_clients.ts";

const ignore = !hasCommand("haproxy") || !hasCommand("curl") || !hasCommand("lftp");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const REPO = new URL("../../", import.meta.url).pathname;

/** The balancer's front end (what clients dial) and the node behind it. */
const FRONT = "127.0.0.20";
const NODE = "127.0.0.21";
/** Where HAProxy connects from (the kernel's choice on loopback): the trusted peer. */
const BALANCER = "127.0.0.1";
/** The clients, each on an address of its own. */
const CURL_FROM = "127.0.0.2";
const LFTP_FROM = "127.0.0.3";
const FTPLIB_FROM = "127.0.0.4";
const OTHER_FROM = "127.0.0.5";

interface Ports {
  front: number;
  node: number;
  metrics: number;
  min: number;
  max: number;
}

/** Ports free on both the front and node addresses right now: 3 singles and a range of 10. */
function freePorts(): Ports {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 31000 + Math.floor(Math.random() * 8000);
    const held: Deno.Listener[] = [];
    try {
      for (let port = base; port < base + 13; port++) {
        for (const hostname of [FRONT, NODE]) held.push(Deno.listen({ hostname, port }));
      }
      return { front: base, node: base + 1, metrics: base + 2, min: base + 3, max: base + 12 };
    } catch {
      // taken: try elsewhere
    } finally {
      for (const listener of held) listener.close();
    }
  }
  throw new Error("no free ports found");
}

/** The first YAML block of the README's "Behind a load balancer" section. */
async function readmeSettings(): Promise<string> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const section = readme.slice(readme.indexOf("## Behind a load balancer"));
  return /```yaml\n([\s\S]*?)```/.exec(section)![1];
}

/** The node's config: the README's settings on loopback, plus test-only keys. */
async function nodeConfig(ports: Ports, root: string, direct: boolean): Promise<string> {
  let yaml = (await readmeSettings())
    .replaceAll("10.0.0.11", NODE)
    .replaceAll("10.0.0.5/32", `${BALANCER}/32`)
    .replace(/\b2121\b/, `${ports.node}`)
    .replace(/\b40000\b/, `${ports.min}`)
    .replace(/\b40009\b/, `${ports.max}`)
    .replace(/\b9100\b/, `${ports.metrics}`);
  // Direct data connections: advertise the node itself; clients connect to it from their address.
  if (direct) yaml = yaml.replace(/^passive_address: .*$/m, `passive_address: ${NODE}`);
  return yaml + [
    `storage_config: { root: ${JSON.stringify(root)} }`,
    "log_format: json",
    "login_failure_delay_ms: 0",
    "max_sessions_per_ip: 2",
    "ban_after_failures: 2",
    "",
  ].join("\n");
}

/** `examples/haproxy.cfg` on loopback, with `send-proxy-v2` or `send-proxy`. */
async function haproxyConfig(ports: Ports, send: string, direct: boolean): Promise<string> {
  let cfg = (await Deno.readTextFile(join(REPO, "examples/haproxy.cfg")))
    .replaceAll("203.0.113.10:40000-40009", `${FRONT}:${ports.min}-${ports.max}`)
    .replaceAll("203.0.113.10:21", `${FRONT}:${ports.front}`)
    .replaceAll("10.0.0.11:2121", `${NODE}:${ports.node}`)
    .replaceAll("10.0.0.11", NODE)
    .replaceAll("port 9100", `port ${ports.metrics}`)
    .replaceAll("send-proxy-v2", send);
  if (direct) cfg = cfg.slice(0, cfg.indexOf("# The passive ports"));
  const settings = cfg.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
  assert.doesNotMatch(settings, /203\.0\.113|10\.0\.0\./, "every example address was replaced");
  return cfg;
}

interface Setup extends AsyncDisposable {
  node: CliProcess;
  root: string;
  ports: Ports;
}

async function startSetup(send: string, direct = false): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "exftp-haproxy-" });
  const root = join(dir, "root");
  await Deno.mkdir(root);
  const ports = freePorts();
  await Deno.writeTextFile(join(dir, "exftp.yaml"), await nodeConfig(ports, root, direct));
  await Deno.writeTextFile(join(dir, "haproxy.cfg"), await haproxyConfig(ports, send, direct));
  await runOk("haproxy", ["-c", "-q", "-f", join(dir, "haproxy.cfg")]);
  const node = await startCli(["--config", join(dir, "exftp.yaml")]);
  const haproxy = new Deno.Command("haproxy", {
    args: ["-db", "-f", join(dir, "haproxy.cfg")],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const haproxyErrors = new Response(haproxy.stderr).text();
  const dispose = async () => {
    try {
      haproxy.kill("SIGTERM");
    } catch {
      // gone
    }
    await haproxy.status;
    await haproxyErrors;
    await node.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    // Ready when a greeting comes through the balancer (from 127.0.0.1: not a client below).
    const deadline = Date.now() + 10_000;
    while (true) {
      const greeting = await greetingVia(ports.front).catch(() => "");
      if (greeting.startsWith("220")) break;
      if (Date.now() > deadline) throw new Error(`HAProxy never passed a greeting: ${greeting}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { node, root, ports, [Symbol.asyncDispose]: dispose };
}

async function greetingVia(port: number): Promise<string> {
  using conn = await Deno.connect({ hostname: FRONT, port });
  const buffer = new Uint8Array(256);
  const n = await conn.read(buffer);
  return n ? new TextDecoder().decode(buffer.subarray(0, n)) : "";
}

/** Run a Python ftplib script with `HOST`, `PORT`, `SOURCE` set and `ftplib` imported. */
async function ftplib(setup: Setup, source: string, body: string): Promise<string> {
  const script = [
    "import ftplib, io, sys",
    `HOST, PORT, SOURCE = ${JSON.stringify(FRONT)}, ${setup.ports.front}, ${
      JSON.stringify(source)
    }`,
    "def connect():",
    "    ftp = ftplib.FTP(timeout=15, source_address=(SOURCE, 0))",
    "    ftp.connect(HOST, PORT)",
    "    return ftp",
    body,
  ].join("\n");
  const result = await runOk(PYTHON, ["-c", script]);
  return result.stdout;
}

function curlArgs(_setup: Setup, ...args: string[]): string[] {
  return [
    "-sS",
    "--max-time",
    "20",
    "--interface",
    CURL_FROM,
    "-u",
    "alice:secret",
    ...args,
  ];
}

function url(setup: Setup, path = "/"): string {
  return `ftp://${FRONT}:${setup.ports.front}${path}`;
}

/** The `client` of the node's JSON log lines with `message`. */
function clientsLogged(node: CliProcess, message: string): Set<string> {
  const clients = new Set<string>();
  for (const line of node.stderr().split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line);
    if (entry.message === message && entry.client) clients.add(entry.client);
  }
  return clients;
}

async function curlRoundTrip(setup: Setup, name: string, extra: string[] = []) {
  const data = randomBytes(300_000);
  const local = await Deno.makeTempFile();
  try {
    await Deno.writeFile(local, data);
    await runOk("curl", curlArgs(setup, ...extra, "-T", local, url(setup, `/${name}`)));
    assert.equal(await sha256(await Deno.readFile(join(setup.root, name))), await sha256(data));
    await runOk("curl", curlArgs(setup, ...extra, "-o", local, url(setup, `/${name}`)));
    assert.equal(await sha256(await Deno.readFile(local)), await sha256(data));
    const listing = await runOk("curl", curlArgs(setup, ...extra, "-l", url(setup)));
    assert.ok(listing.stdout.split(/\r?\n/).includes(name), listing.stdout);
  } finally {
    await Deno.remove(local);
  }
}

for (const send of ["send-proxy-v2", "send-proxy"]) {
  test({
    name: `behind HAProxy (${send}): curl, lftp and ftplib transfer in passive mode through it, ` +
      "each known by its own address",
    ignore,
    deadlineMs: 120_000,
    async fn() {
      await using setup = await startSetup(send);
      // curl: EPSV (its default) and PASV, upload, download, listing.
      await curlRoundTrip(setup, "curl-epsv.bin");
      await curlRoundTrip(setup, "curl-pasv.bin", ["--disable-epsv"]);

      // lftp: PASV, put and get, from its own address.
      const work = await Deno.makeTempDir();
      try {
        const data = randomBytes(200_000);
        await Deno.writeFile(join(work, "up.bin"), data);
        await runOk("lftp", [
          "-c",
          [
            "set ftp:ssl-allow no",
            "set net:max-retries 1",
            "set net:timeout 15",
            "set xfer:clobber yes",
            `set net:socket-bind-ipv4 ${LFTP_FROM}`,
            `open -u bob,secret -p ${setup.ports.front} ${FRONT}`,
            `lcd ${work}`,
            "put up.bin -o lftp.bin",
            "get lftp.bin -o back.bin",
            "cls -1",
          ].join("; "),
        ]);
        assert.equal(await sha256(await Deno.readFile(join(work, "back.bin"))), await sha256(data));
      } finally {
        await Deno.remove(work, { recursive: true });
      }

      // Python's ftplib: PASV, and the PASV address is the balancer's front end.
      const out = await ftplib(
        setup,
        FTPLIB_FROM,
        [
          "ftp = connect()",
          "ftp.login('carol', 'secret')",
          "print(ftp.sendcmd('PASV'))",
          "ftp.storbinary('STOR py.txt', io.BytesIO(b'from python'))",
          "buf = io.BytesIO(); ftp.retrbinary('RETR py.txt', buf.write); print(buf.getvalue().decode())",
          "print(sorted(ftp.nlst()))",
          "ftp.quit()",
        ].join("\n"),
      );
      assert.match(out, new RegExp(`^227 .*\\(${FRONT.replaceAll(".", ",")},\\d+,\\d+\\)`, "m"));
      assert.match(out, /^from python$/m);
      assert.match(out, /lftp\.bin.*py\.txt/);

      // exftp saw each client's own address, never the balancer's, for every FTP session.
      const clients = clientsLogged(setup.node, "Connected");
      for (const address of [CURL_FROM, LFTP_FROM, FTPLIB_FROM]) {
        assert.ok(clients.has(address), `${address} in ${[...clients]}`);
      }
      assert.deepEqual(
        [...clients].filter((c) => ![CURL_FROM, LFTP_FROM, FTPLIB_FROM].includes(c)),
        [BALANCER], // only the readiness probe connected from the balancer's own address
      );
    },
  });
}

test({
  name: "behind HAProxy: two clients named by PROXY headers are limited and banned separately",
  ignore,
  deadlineMs: 120_000,
  async fn() {
    await using setup = await startSetup("send-proxy-v2");
    // max_sessions_per_ip: 2 — the third session of one address is refused, another's is not.
    const limits = await ftplib(
      setup,
      FTPLIB_FROM,
      [
        "held = [connect(), connect()]",
        "try:",
        "    connect(); print('third: accepted')",
        "except ftplib.error_temp as e:",
        "    print('third:', e)",
        "SOURCE = " + JSON.stringify(OTHER_FROM),
        "other = connect(); other.login('dave', 'secret'); print('other:', other.pwd())",
      ].join("\n"),
    );
    assert.match(limits, /^third: 421 Too many connections from your address/m);
    assert.match(limits, /^other: \/$/m);

    // ban_after_failures: 2 — failed logins from one address ban it, not the other.
    const bans = await ftplib(
      setup,
      FTPLIB_FROM,
      [
        "for _ in range(2):",
        "    ftp = connect()",
        "    try:",
        "        ftp.login('root', 'wrong')",
        "    except ftplib.error_perm as e:",
        "        print('login:', e)",
        "    ftp.close()",
        "try:",
        "    connect(); print('after: accepted')",
        "except ftplib.error_temp as e:",
        "    print('after:', e)",
        "SOURCE = " + JSON.stringify(OTHER_FROM),
        "other = connect(); other.login('dave', 'secret'); print('other:', other.pwd())",
      ].join("\n"),
    );
    assert.equal(bans.match(/^login: 530/gm)?.length, 2, bans);
    assert.match(bans, /^after: 421 Too many failed logins/m);
    assert.match(bans, /^other: \/$/m);
    // curl from a third address is not affected either.
    const listing = await run("curl", curlArgs(setup, "-l", url(setup)));
    assert.equal(listing.code, 0, listing.stderr);
  },
});

test({
  name: "behind HAProxy, data connections straight to the node pass the passive check " +
    "by the header's address",
  ignore,
  deadlineMs: 60_000,
  async fn() {
    await using setup = await startSetup("send-proxy-v2", true);
    const out = await ftplib(
      setup,
      FTPLIB_FROM,
      [
        "ftp = connect()",
        "ftp.trust_server_pasv_ipv4_address = True  # ftplib otherwise dials the control host",
        "ftp.login('carol', 'secret')",
        "print(ftp.sendcmd('PASV'))",
        "ftp.storbinary('STOR direct.txt', io.BytesIO(b'straight to the node'))",
        "buf = io.BytesIO(); ftp.retrbinary('RETR direct.txt', buf.write); print(buf.getvalue().decode())",
        "ftp.quit()",
      ].join("\n"),
    );
    assert.match(out, new RegExp(`^227 .*\\(${NODE.replaceAll(".", ",")},\\d+,\\d+\\)`, "m"));
    assert.match(out, /^straight to the node$/m);
    // curl too ignores the PASV address by default (since 7.74).
    await curlRoundTrip(setup, "curl-direct.bin", ["--disable-epsv", "--no-ftp-skip-pasv-ip"]);
  },
});
