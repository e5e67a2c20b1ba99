/**
 * Concurrency benchmark: exftp against pyftpdlib and vsftpd with many clients at
 * once, in one run on one folder. Run with `deno task bench:concurrency` (see
 * README.md).
 *
 *   deno run --allow-all bench/concurrency.ts [--quick] [--seconds N] [--clients N] [--dir DIR]
 *
 * Per server: downloads and uploads of 10 MiB files by N clients for a fixed
 * time (MiB/s, p50/p99 s per file, errors, server CPU s per GiB), listings of a
 * 1,000-entry folder by N clients (listings/s, p99), a login storm
 * (connect+login+QUIT, 100 at a time), RSS right after start, with idle
 * logged-in sessions and after the transfer workloads, and one stream RETR/STOR
 * against socat. The clients are `bench/concurrency_client.ts` processes (raw
 * sockets, reused buffers); their CPU is measured and reported beside the
 * server's, so a client-bound figure shows as such. Each workload runs the
 * servers back to back, in an order that rotates from workload to workload.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import type { ClientJob, ClientResult } from "./concurrency_client.ts";
import {
  freePort,
  interrupted,
  Proc,
  procStatus,
  type Server,
  startVsftpd,
  stopOnSignals,
  waitListening,
  withTimeout,
} from "./throughput.ts";

const USAGE =
  `Usage: deno run --allow-all bench/concurrency.ts [--quick] [--seconds N] [--clients N] [--dir DIR]

  --quick        a short smoke run (3 s workloads, 50 clients, 200/2,000 idle sessions)
  --seconds N    seconds per timed workload and server (default 20)
  --clients N    concurrent clients for downloads, uploads and listings (default 300)
  --idle N       the larger idle-session count (default 10000; the smaller is N/10)
  --settle N     seconds over which memory is also read as its lowest ("settled"), with the
                 idle sessions held and after the workloads (default 60; --quick 6; 0 = off)
  --dir DIR      where the temp folder goes (default /dev/shm)
  --only LIST    comma-separated servers to run (exftp,pyftpdlib,vsftpd)
  --workloads L  comma-separated workloads (idle,login,download,upload,list,single; default all)
  --deno-flags F extra flags for exftp's \`deno run\` (e.g. "--v8-flags=--prof" to profile it)
  --plain-deno   start exftp as \`deno run -A main.ts\`, without the environment variables and
                 flags \`deno task start\` adds (by default it gets them, as users do)
  --help         show this help`;

const MIB = 1024 * 1024;
const REPO = path.join(import.meta.dirname!, "..");
const CLIENT_TS = path.join(import.meta.dirname!, "concurrency_client.ts");
const FILE_BYTES = 10 * MIB;
const FILE_COUNT = 8;
const LIST_ENTRIES = 1000;
/** Client processes for the timed workloads (the machine has few cores; see README). */
const CLIENT_PROCESSES = 2;

interface Settings {
  seconds: number;
  clients: number;
  idle: number;
  logins: number;
  bigMiB: number;
  dir: string;
  only: string[];
  workloads: string[];
  denoFlags: string[];
  quick: boolean;
  /** Start exftp without `deno task start`'s environment and flags. */
  plainDeno: boolean;
  /** Memory is also read as its lowest over this long (ms). */
  settleMs: number;
}

function parseSettings(args: string[]): Settings | undefined {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      seconds: { type: "string" },
      clients: { type: "string" },
      idle: { type: "string" },
      settle: { type: "string" },
      dir: { type: "string" },
      only: { type: "string" },
      workloads: { type: "string" },
      "deno-flags": { type: "string" },
      "plain-deno": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const quick = values.quick ?? false;
  const positive = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: not a positive integer: ${raw}`);
    return n;
  };
  return {
    quick,
    seconds: positive("seconds", values.seconds, quick ? 3 : 20),
    clients: positive("clients", values.clients, quick ? 50 : 300),
    idle: positive("idle", values.idle, quick ? 2000 : 10_000),
    logins: quick ? 200 : 1000,
    bigMiB: quick ? 64 : 256,
    dir: values.dir ?? "/dev/shm",
    only: (values.only ?? "exftp,pyftpdlib,vsftpd").split(","),
    workloads: (values.workloads ?? "idle,login,download,upload,list,single").split(","),
    denoFlags: (values["deno-flags"] ?? "").split(" ").filter(Boolean),
    plainDeno: values["plain-deno"] ?? false,
    settleMs: (values.settle === "0" ? 0 : positive("settle", values.settle, quick ? 6 : 60)) *
      1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Processes and /proc

/** `command args…` with the open-file limit raised (for thousands of sessions). */
export function withNofile(command: string, args: string[]): [string, string[]] {
  return ["/bin/sh", ["-c", `ulimit -n "$(ulimit -Hn)" && exec "$@"`, "sh", command, ...args]];
}

function readStat(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** CPU seconds of `pid`, its threads and its reaped children (vsftpd forks per session). */
function cpuWithChildren(pid: number): number {
  const f = readStat(pid);
  if (!f) return NaN;
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** `pid` and every live descendant. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    const child = Number(entry.name);
    if (!Number.isInteger(child)) continue;
    const f = readStat(child);
    if (!f) continue;
    const parent = Number(f[1]);
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const all: number[] = [];
  const walk = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return all;
}

/** Memory of a server: VmRSS of its process, or the PSS sum of its process tree (vsftpd). */
function serverMemory(server: Server): number {
  if (server.name !== "vsftpd") return procStatus(server.proc.pid, "VmRSS") ?? NaN;
  let total = 0;
  for (const pid of processTree(server.proc.pid)) {
    try {
      const rollup = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
      total += Number(rollup.match(/^Pss:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
    } catch { /* gone */ }
  }
  return total;
}

/**
 * The environment variables and non-permission `deno run` flags of `deno task
 * start` (deno.json), so exftp runs here as users start it (e.g. the malloc
 * trim threshold and `--no-code-cache`; see bench/README.md).
 */
export async function startTaskSettings(): Promise<
  { env: Record<string, string>; flags: string[] }
> {
  const deno = JSON.parse(await Deno.readTextFile(path.join(REPO, "deno.json")));
  const words: string[] = String(deno.tasks.start).split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? "")) {
    const [name, ...value] = words.shift()!.split("=");
    env[name] = value.join("=");
  }
  const run = words.indexOf("run");
  if (words[0] !== "deno" || run !== 1) {
    throw new Error(`unexpected start task: ${deno.tasks.start}`);
  }
  const flags = words.slice(2).filter((word) =>
    word.startsWith("--") && !word.startsWith("--allow-") && !word.startsWith("--deny-")
  );
  return { env, flags };
}

/** Where exftp's `/metrics` is served, for the memory breakdown (set when it starts). */
let exftpMetricsPort = 0;

/** exftp's memory as its `/metrics` tells it, in bytes. */
interface MemoryBreakdown {
  rss: number;
  heapUsed: number;
  heapReserved: number;
  external: number;
}

async function exftpMemory(): Promise<MemoryBreakdown | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${exftpMetricsPort}/metrics`)).text();
    const gauge = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? NaN);
    return {
      rss: gauge(/^process_resident_memory_bytes (\d+)$/m),
      heapUsed: gauge(/^exftp_v8_heap_bytes\{state="used"\} (\d+)$/m),
      heapReserved: gauge(/^exftp_v8_heap_bytes\{state="reserved"\} (\d+)$/m),
      external: gauge(/^exftp_external_memory_bytes (\d+)$/m),
    };
  } catch {
    return undefined;
  }
}

/** A row of the breakdown table: MiB in each place, and what is native (the rest). */
function breakdownRow(memory: MemoryBreakdown | undefined): Row {
  if (!memory) return { "RSS MiB": "n/a" };
  const rest = memory.rss - memory.heapReserved - memory.external;
  return {
    "RSS MiB": fixed(memory.rss / MIB),
    "V8 heap used": fixed(memory.heapUsed / MIB),
    "V8 heap reserved": fixed(memory.heapReserved / MIB),
    "ArrayBuffers": fixed(memory.external / MIB),
    "native (the rest)": fixed(rest / MIB),
  };
}

async function startExftp(
  root: string,
  work: string,
  denoFlags: string[],
  plainDeno: boolean,
): Promise<Server> {
  const config = path.join(work, "exftp.yaml");
  await Deno.writeTextFile(
    config,
    `max_sessions: 25000\nmax_sessions_per_ip: 25000\nstorage_config:\n  root: ${root}\n`,
  );
  const start = plainDeno ? { env: {}, flags: [] } : await startTaskSettings();
  exftpMetricsPort = freePort();
  const [command, args] = withNofile(Deno.execPath(), [
    "run",
    "-A",
    ...start.flags,
    ...denoFlags,
    path.join(REPO, "main.ts"),
    "-c",
    config,
    "--port",
    "0",
    "--metrics-port",
    String(exftpMetricsPort),
  ]);
  const proc = new Proc("exftp", command, args, {
    ...start.env,
    MIN_PASSIVE_PORT: "0",
    MAX_PASSIVE_PORT: "0",
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = proc.output.match(/Accepting connections on [\d.]+:(\d+)/);
    if (match) return { name: "exftp", proc, port: Number(match[1]) };
    if (proc.exited) throw new Error(`exftp exited before listening:\n${proc.output.trim()}`);
    if (Date.now() > deadline) throw new Error(`exftp did not start in 20 s:\n${proc.output}`);
    await sleep(20);
  }
}

/** pyftpdlib as `python3 -m pyftpdlib -w` would run it, without its 512-connection cap. */
async function startPyftpdlib(root: string): Promise<Server> {
  const port = freePort();
  const script = [
    "import sys",
    "from pyftpdlib.authorizers import DummyAuthorizer",
    "from pyftpdlib.handlers import FTPHandler",
    "from pyftpdlib.servers import FTPServer",
    "authorizer = DummyAuthorizer()",
    "authorizer.add_anonymous(sys.argv[1], perm='elradfmwMT')",
    "FTPHandler.authorizer = authorizer",
    "server = FTPServer(('127.0.0.1', int(sys.argv[2])), FTPHandler)",
    "server.max_cons = 0",
    "server.max_cons_per_ip = 0",
    "server.serve_forever()",
  ].join("\n");
  const [command, args] = withNofile("/usr/bin/python3", ["-c", script, root, String(port)]);
  const proc = new Proc("pyftpdlib", command, args);
  await waitListening(proc, port);
  return { name: "pyftpdlib", proc, port };
}

/** A bare `deno run` that imports node:net and waits: the floor exftp's RSS is compared with. */
async function denoFloor(work: string): Promise<{ rss: number; anon: number }> {
  const file = path.join(work, "floor.ts");
  await Deno.writeTextFile(
    file,
    `import "node:net";\nconsole.log("ready");\nsetTimeout(() => {}, 600_000);\n`,
  );
  const proc = new Proc("deno-floor", Deno.execPath(), ["run", file]);
  while (!proc.output.includes("ready")) {
    if (proc.exited) throw new Error(`the floor process exited: ${proc.output}`);
    await sleep(20);
  }
  await sleep(2000);
  const rss = procStatus(proc.pid, "VmRSS") ?? NaN;
  const anon = procStatus(proc.pid, "RssAnon") ?? NaN;
  await proc.stop();
  return { rss, anon };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Clients

/** Run one client process to completion and parse its JSON line. */
async function runClient(job: ClientJob, timeoutMs: number): Promise<ClientResult> {
  const [command, args] = withNofile(Deno.execPath(), [
    "run",
    "--allow-all",
    CLIENT_TS,
    JSON.stringify(job),
  ]);
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), interrupted.signal]),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !text) {
    throw new Error(`client ${job.mode} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as ClientResult;
}

/** Several client processes sharing `connections`; their results merged. */
async function runClients(
  job: ClientJob,
  processes: number,
  timeoutMs: number,
): Promise<ClientResult & { clientCpuShare: number }> {
  const share = Math.ceil(job.connections / processes);
  const results = await Promise.all(
    Array.from(
      { length: processes },
      (_, i) => runClient({ ...job, connections: share, clientIndex: i }, timeoutMs),
    ),
  );
  const wall = Math.max(...results.map((r) => r.wallSeconds));
  const cpu = results.reduce((s, r) => s + r.cpuSeconds, 0);
  return {
    ops: results.reduce((s, r) => s + r.ops, 0),
    bytes: results.reduce((s, r) => s + r.bytes, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 3),
    latencies: results.flatMap((r) => r.latencies).sort((a, b) => a - b),
    wallSeconds: wall,
    cpuSeconds: cpu,
    clientCpuShare: cpu / wall,
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Lowest memory of `server` over `ms`, sampled every 2 s: V8 gives back the
 * young generation a burst grew only some seconds after the burst (measured:
 * 20–30 s for 10,000 logins), so the figure a few seconds after a burst says
 * more about the burst than about what the server holds.
 */
async function settledMemory(server: Server, ms: number): Promise<number> {
  let lowest = serverMemory(server);
  for (let waited = 0; waited < ms; waited += 2000) {
    await sleep(2000);
    lowest = Math.min(lowest, serverMemory(server));
  }
  return lowest;
}

/**
 * Hold `count` idle logged-in sessions; returns the server's memory while they
 * are held: 2 s after the last login, and the lowest over the next `settleMs`.
 */
async function idleSessions(
  server: Server,
  count: number,
  settleMs: number,
  onMemory?: (when: string, memory: MemoryBreakdown | undefined) => void,
): Promise<
  { memory: number; settled: number; sessions: number; errors: number; sample: string }
> {
  const job: ClientJob = {
    mode: "idle",
    host: "127.0.0.1",
    port: server.port,
    connections: count,
    // vsftpd listens with a backlog of 32 and forks per session: 200 connects
    // at once leave some waiting a minute for SYN-ACK retransmits.
    connectConcurrency: server.name === "vsftpd" ? 16 : 200,
  };
  const [command, args] = withNofile(Deno.execPath(), [
    "run",
    "--allow-all",
    CLIENT_TS,
    JSON.stringify(job),
  ]);
  const child = new Deno.Command(command, { args, stdin: "piped", stdout: "piped" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 180_000;
  try {
    while (!text.includes("\n")) {
      const chunk = await withTimeout(reader.read(), Math.max(1, deadline - Date.now()));
      if (!chunk) throw new Error(`${count} idle sessions not logged in within 180 s`);
      if (chunk.done) throw new Error(`idle client ended early: ${text}`);
      text += chunk.value;
    }
    const ready = JSON.parse(text.slice(text.indexOf("{")));
    await sleep(2000); // let allocations settle
    const memory = serverMemory(server);
    if (server.name === "exftp") onMemory?.("2 s", await exftpMemory());
    const settled = Math.min(memory, await settledMemory(server, settleMs));
    if (server.name === "exftp" && settleMs > 0) {
      onMemory?.(`${settleMs / 1000} s later`, await exftpMemory());
    }
    return { memory, settled, ...ready };
  } finally {
    await child.stdin.close().catch(() => {});
    await withTimeout(child.status, 10_000) ?? child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    await child.status;
  }
}

// ---------------------------------------------------------------------------------------------
// The run

interface Row {
  [column: string]: string | number;
}

function fixed(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

function table(title: string, rows: Record<string, Row>): string {
  const names = Object.keys(rows);
  if (names.length === 0) return "";
  const columns = [...new Set(names.flatMap((n) => Object.keys(rows[n])))];
  const cells = [
    ["", ...columns],
    ...names.map((n) => [n, ...columns.map((c) => String(rows[n][c] ?? "n/a"))]),
  ];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const lines = cells.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  );
  return `\n${title}\n${lines.join("\n")}`;
}

/** Ratios of exftp against each peer for `key` (higher is better unless `lowerBetter`). */
function ratios(values: Record<string, number> | undefined, label: string): string {
  const exftp = values?.exftp;
  if (!values || exftp === undefined) return "";
  return Object.keys(values).filter((n) => n !== "exftp").map((n) =>
    `${label}: exftp / ${n} = ${fixed(exftp / values[n], 2)}`
  ).join("; ");
}

async function main(args: string[]): Promise<number> {
  const settings = parseSettings(args);
  if (!settings) return 0;
  const started = new Date();
  const work = await Deno.makeTempDir({ dir: settings.dir, prefix: "exftp-concurrency-" });
  const stopHandlingSignals = stopOnSignals(work);
  const log = (line: string) =>
    console.error(`[${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${line}`);
  const out: string[] = [];
  try {
    const root = path.join(work, "root");
    await Deno.mkdir(path.join(root, "up"), { recursive: true });
    await Deno.mkdir(path.join(root, "list"), { recursive: true });
    const files: string[] = [];
    const block = new Uint8Array(MIB);
    crypto.getRandomValues(block.subarray(0, 65536));
    for (let i = 0; i < FILE_COUNT; i++) {
      const name = `file${i}.bin`;
      using file = await Deno.open(path.join(root, name), { write: true, create: true });
      for (let m = 0; m < FILE_BYTES / MIB; m++) await file.write(block);
      files.push(name);
    }
    {
      using big = await Deno.open(path.join(root, "big.bin"), { write: true, create: true });
      for (let m = 0; m < settings.bigMiB; m++) await big.write(block);
    }
    for (let i = 0; i < LIST_ENTRIES; i++) {
      await Deno.writeTextFile(
        path.join(root, "list", `entry-${String(i).padStart(4, "0")}.txt`),
        "x".repeat(i % 97),
      );
    }
    for (const p of [work, root, path.join(root, "list")]) await Deno.chmod(p, 0o755);
    await Deno.chmod(path.join(root, "up"), 0o777);
    for await (const e of Deno.readDir(root)) {
      if (e.isFile) await Deno.chmod(path.join(root, e.name), 0o644);
    }

    log("Measuring the floor: a bare deno run importing node:net …");
    const { rss: floor, anon: floorAnon } = await denoFloor(work);

    log(`Starting ${settings.only.join(", ")} …`);
    const servers: Server[] = [];
    if (settings.only.includes("exftp")) {
      servers.push(await startExftp(root, work, settings.denoFlags, settings.plainDeno));
    }
    if (settings.only.includes("pyftpdlib")) servers.push(await startPyftpdlib(root));
    if (settings.only.includes("vsftpd")) servers.push(await startVsftpd(root, work));
    await sleep(2000);
    const afterStart: Record<string, number> = {};
    for (const s of servers) afterStart[s.name] = serverMemory(s);
    /**
     * Private memory after start (`RssAnon`: RSS without the pages of the
     * executable and libraries, which are shared and can be dropped).
     */
    const privateAfterStart: Record<string, number> = {};
    for (const s of servers) {
      privateAfterStart[s.name] = s.name === "vsftpd"
        ? NaN
        : procStatus(s.proc.pid, "RssAnon") ?? NaN;
    }
    /** Where exftp's memory is at each point (from its /metrics). */
    const breakdown: Record<string, Row> = {};
    const hasExftp = servers.some((s) => s.name === "exftp");
    if (hasExftp) breakdown["after start"] = breakdownRow(await exftpMemory());

    /** Servers in an order that rotates with each workload. */
    let rotation = 0;
    const rotated = () => {
      const r = rotation++ % servers.length;
      return [...servers.slice(r), ...servers.slice(0, r)];
    };
    const host = "127.0.0.1";
    const timedMs = settings.seconds * 1000 + 120_000;

    // Idle sessions: memory with N/10 and N held, on fresh servers (before the transfers).
    const idleRows: Record<string, Row> = {};
    const small = Math.max(1, Math.round(settings.idle / 10));
    const wanted = (workload: string) => settings.workloads.includes(workload);
    for (const s of wanted("idle") ? rotated() : []) {
      const counts = s.name === "vsftpd" ? [small] : [small, settings.idle];
      const row: Row = {};
      const before = serverMemory(s);
      let last = { count: 0, memory: before, settled: before };
      for (const count of counts) {
        log(`${s.name}: ${count} idle sessions …`);
        const held = await idleSessions(s, count, settings.settleMs, (when, memory) => {
          if (s.name === "exftp" && count === settings.idle) {
            breakdown[`${count} idle sessions, ${when}`] = breakdownRow(memory);
          }
        });
        if (held.errors) log(`  ${held.errors} sessions failed: ${held.sample}`);
        row[`MiB @${count}`] = fixed(held.memory / MIB);
        row[`KiB/session @${count}`] = fixed((held.memory - before) / held.sessions / 1024);
        if (last.count > 0) {
          const sessions = held.sessions - last.count;
          row[`KiB/session ${last.count}→${count}, 2 s`] = fixed(
            (held.memory - last.memory) / sessions / 1024,
          );
          row[`settled`] = fixed((held.settled - last.settled) / sessions / 1024);
        }
        last = { count: held.sessions, memory: held.memory, settled: held.settled };
        await sleep(1000);
      }
      idleRows[s.name] = row;
    }

    // Login storm.
    const loginRows: Record<string, Row> = {};
    for (const s of wanted("login") ? rotated() : []) {
      log(`${s.name}: login storm …`);
      const cpu0 = cpuWithChildren(s.proc.pid);
      const r = await runClients(
        {
          mode: "login",
          host,
          port: s.port,
          connections: 100,
          total: settings.logins,
          durationMs: settings.seconds * 3000,
        },
        1,
        timedMs,
      );
      loginRows[s.name] = {
        "logins/s": fixed(r.ops / r.wallSeconds, 0),
        done: `${r.ops}/${settings.logins}`,
        "p99 s": fixed(quantile(r.latencies, 0.99), 3),
        errors: r.errors,
        "server CPU %": fixed(100 * (cpuWithChildren(s.proc.pid) - cpu0) / r.wallSeconds, 0),
        "client CPU %": fixed(100 * r.clientCpuShare, 0),
      };
      if (r.errors) log(`  errors: ${r.errorSamples.join(" | ")}`);
    }

    // Timed workloads.
    const workloadRows: Record<string, Record<string, Row>> = {};
    const rates: Record<string, Record<string, number>> = {};
    for (const mode of ["download", "upload", "list"] as const) {
      workloadRows[mode] = {};
      rates[mode] = {};
      for (const s of wanted(mode) ? rotated() : []) {
        log(`${s.name}: ${settings.clients} clients, ${mode}, ${settings.seconds} s …`);
        const cpu0 = cpuWithChildren(s.proc.pid);
        const r = await runClients(
          {
            mode,
            host,
            port: s.port,
            connections: settings.clients,
            durationMs: settings.seconds * 1000,
            files,
            bytes: FILE_BYTES,
            uploadPrefix: `up/${s.name}-`,
            listPath: "list",
            minLines: LIST_ENTRIES,
          },
          CLIENT_PROCESSES,
          timedMs,
        );
        await sleep(500); // vsftpd's session processes exit and are reaped
        const serverCpu = cpuWithChildren(s.proc.pid) - cpu0;
        const row: Row = mode === "list"
          ? {
            "listings/s": fixed(r.ops / r.wallSeconds, 0),
            "p50 s": fixed(quantile(r.latencies, 0.5), 2),
            "p99 s": fixed(quantile(r.latencies, 0.99), 2),
          }
          : {
            "MiB/s": fixed(r.bytes / MIB / r.wallSeconds, 0),
            files: r.ops,
            "p50 s": fixed(quantile(r.latencies, 0.5), 2),
            "p99 s": fixed(quantile(r.latencies, 0.99), 2),
            "CPU s/GiB": fixed(serverCpu / (r.bytes / 1024 / MIB), 2),
          };
        row.errors = r.errors;
        row["server CPU %"] = fixed(100 * serverCpu / r.wallSeconds, 0);
        row["client CPU %"] = fixed(100 * r.clientCpuShare, 0);
        workloadRows[mode][s.name] = row;
        rates[mode][s.name] = mode === "list" ? r.ops / r.wallSeconds : r.bytes / r.wallSeconds;
        if (r.errors) log(`  errors: ${r.errorSamples.join(" | ")}`);
      }
    }

    // One stream, against socat's userspace copy.
    const singleRows: Record<string, Row> = {};
    const singleSeconds = Math.max(3, Math.round(settings.seconds / 2));
    const bigBytes = settings.bigMiB * MIB;
    if (wanted("single")) {
      const speeds = { download: [] as number[], upload: [] as number[] };
      for (const mode of ["download", "upload"] as const) {
        log(`socat: one stream, ${mode} of ${settings.bigMiB} MiB, ${singleSeconds} s …`);
        const port = freePort();
        const listen = `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`;
        // The listening address first, so each forked child opens the file anew
        // (opened once before the fork, every child would share its offset).
        const file = mode === "download"
          ? `OPEN:${path.join(root, "big.bin")}`
          : `CREATE:${path.join(root, "up", "socat.bin")}`;
        const direction = mode === "download" ? "-U" : "-u"; // -U: second → first
        const socat = new Proc("socat", "socat", [direction, "-b", String(MIB), listen, file]);
        await waitListening(socat, port);
        const r = await runClient({
          mode: mode === "download" ? "raw-read" : "raw-write",
          host,
          port,
          connections: 1,
          durationMs: singleSeconds * 1000,
          bytes: bigBytes,
        }, timedMs);
        await socat.stop();
        speeds[mode].push(r.bytes / MIB / r.wallSeconds);
      }
      const median = (a: number[]) => a[0];
      singleRows["socat (limit)"] = {
        "RETR MiB/s": fixed(median(speeds.download), 0),
        "STOR MiB/s": fixed(median(speeds.upload), 0),
      };
      rates["single-download"] = { socat: median(speeds.download) };
      rates["single-upload"] = { socat: median(speeds.upload) };
    }
    for (const s of wanted("single") ? rotated() : []) {
      const row: Row = {};
      for (const mode of ["download", "upload"] as const) {
        log(`${s.name}: one stream, ${mode} of ${settings.bigMiB} MiB files, ${singleSeconds} s …`);
        const r = await runClient({
          mode,
          host,
          port: s.port,
          connections: 1,
          durationMs: singleSeconds * 1000,
          files: ["big.bin"],
          bytes: bigBytes,
          uploadPrefix: `up/single-${s.name}-`,
        }, timedMs);
        const speed = r.bytes / MIB / r.wallSeconds;
        row[mode === "download" ? "RETR MiB/s" : "STOR MiB/s"] = fixed(speed, 0) +
          (r.errors ? ` (${r.errors} errors)` : "");
        (rates[`single-${mode}`] ??= {})[s.name] = speed;
        if (r.errors) log(`  errors: ${r.errorSamples.join(" | ")}`);
      }
      singleRows[s.name] = row;
    }

    await sleep(3000);
    const afterWork: Record<string, number> = {};
    for (const s of servers) afterWork[s.name] = serverMemory(s);
    const settledAfterWork: Record<string, number> = {};
    if (settings.settleMs > 0) {
      log(`Memory after the workloads: lowest over ${settings.settleMs / 1000} s …`);
    }
    if (hasExftp) breakdown["3 s after the workloads"] = breakdownRow(await exftpMemory());
    const settling = await Promise.all(servers.map((s) => settledMemory(s, settings.settleMs)));
    servers.forEach((s, i) => settledAfterWork[s.name] = Math.min(afterWork[s.name], settling[i]));
    if (hasExftp && settings.settleMs > 0) {
      breakdown[`${settings.settleMs / 1000} s later`] = breakdownRow(await exftpMemory());
    }

    const memoryRows: Record<string, Row> = {};
    for (const s of servers) {
      memoryRows[s.name] = {
        "MiB after start": fixed(afterStart[s.name] / MIB),
        "of it private": Number.isNaN(privateAfterStart[s.name])
          ? "n/a"
          : fixed(privateAfterStart[s.name] / MIB),
        "MiB after workloads": fixed(afterWork[s.name] / MIB),
        "settled": fixed(settledAfterWork[s.name] / MIB),
      };
    }
    memoryRows["deno + node:net (floor)"] = {
      "MiB after start": fixed(floor / MIB),
      "of it private": fixed(floorAnon / MIB),
      "MiB after workloads": "",
      "settled": "",
    };

    const uname =
      (await new Deno.Command("uname", { args: ["-r"], stdout: "piped" }).output()).stdout;
    out.push(
      `exftp concurrency benchmark, ${started.toISOString()}, ${
        settings.quick ? "quick" : "full"
      } run`,
      `${Deno.build.target}, ${navigator.hardwareConcurrency} CPUs, kernel ${
        new TextDecoder().decode(uname).trim()
      }, Deno ${Deno.version.deno}`,
      `${settings.clients} clients in ${CLIENT_PROCESSES} client processes, ${settings.seconds} s per workload, files in ${settings.dir}`,
      `CPU % = CPU seconds / wall seconds (100 % = one core); vsftpd memory = PSS of its process tree`,
      `private = RssAnon: RSS without the executable's and libraries' pages (shared, reclaimable)`,
      table("Memory (RSS)", memoryRows),
      table("Idle logged-in sessions", idleRows),
      table(
        "exftp memory by place (from its /metrics; native = RSS − V8 reserved − ArrayBuffers)",
        breakdown,
      ),
      table(`Login storm (${settings.logins} connect+login+QUIT, 100 at a time)`, loginRows),
      table(`Downloads (${settings.clients} clients, 10 MiB files)`, workloadRows.download),
      table(`Uploads (${settings.clients} clients, 10 MiB files)`, workloadRows.upload),
      table(
        `Listings (${settings.clients} clients, LIST of ${LIST_ENTRIES} entries)`,
        workloadRows.list,
      ),
      table(`One stream (${settings.bigMiB} MiB file, ${singleSeconds} s)`, singleRows),
      "",
      ratios(rates.download, "download MiB/s"),
      ratios(rates.upload, "upload MiB/s"),
      ratios(rates.list, "listings/s"),
      ratios(rates["single-download"], "one-stream RETR"),
      ratios(rates["single-upload"], "one-stream STOR"),
      `exftp RSS − floor: ${fixed((afterStart.exftp - floor) / MIB)} MiB after start (private ${
        fixed((privateAfterStart.exftp - floorAnon) / MIB)
      }), ${fixed((afterWork.exftp - floor) / MIB)} MiB 3 s after the workloads, ${
        fixed((settledAfterWork.exftp - floor) / MIB)
      } MiB settled (lowest over ${settings.settleMs / 1000} s more)`,
    );
    console.log(out.join("\n"));
    for (const s of servers) {
      if (s.proc.exited) {
        console.log(`${s.name} exited during the run:\n${s.proc.output.slice(-2000)}`);
      }
    }
    return 0;
  } catch (error) {
    console.error(`\nconcurrency: ${(error as Error).stack}`);
    for (const proc of Proc.live) {
      console.error(
        `  last output of ${proc.name}: ${
          proc.output.trim().split("\n").slice(-10).join("\n    ")
        }`,
      );
    }
    return 1;
  } finally {
    for (const proc of [...Proc.live]) await proc.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
    stopHandlingSignals();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
