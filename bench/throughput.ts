/**
 * Throughput benchmark: exftp against vsftpd and pyftpdlib on loopback, with curl as the
 * client and socat as the raw loopback limit. Run with `deno task bench` (see README.md).
 *
 *   deno run --allow-all bench/throughput.ts [--size-mib N] [--runs N] [--dir DIR]
 *
 * Every server runs as its own process (exftp via `deno run -A main.ts`), all serve the same
 * temp folder, and each workload is run in interleaved rounds so drift hits all of them alike.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";

const USAGE = `Usage: deno run --allow-all bench/throughput.ts [--size-mib N] [--runs N] [--dir DIR]

  --size-mib N   size of the random test file in MiB (default 1024)
  --runs N       runs per measurement; the median is reported (default 3)
  --dir DIR      where to make the temp folder (default /dev/shm if it is a folder, so uploads
                 measure the servers rather than the disk; use --dir /tmp for a disk)
  --help         show this help`;

const MIB = 1024 * 1024;
const MAIN_TS = path.join(import.meta.dirname!, "..", "main.ts");
const REPO = path.join(import.meta.dirname!, "..");

// ---------------------------------------------------------------------------------------------
// Flags

interface Settings {
  sizeMiB: number;
  runs: number;
  dir: string | undefined;
}

function parseSettings(args: string[]): Settings | undefined {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string" },
      runs: { type: "string" },
      dir: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const positive = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: not a positive integer: ${raw}`);
    return n;
  };
  return {
    sizeMiB: positive("size-mib", values["size-mib"], 1024),
    runs: positive("runs", values.runs, 3),
    dir: values.dir ?? (isFolder("/dev/shm") ? "/dev/shm" : undefined),
  };
}

/** The tools the benchmark needs that are missing, with where to get them. */
async function missingTools(): Promise<string[]> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat("/usr/sbin", "/sbin");
  const onPath = (name: string) =>
    dirs.some((dir) => {
      try {
        return Deno.statSync(path.join(dir, name)).isFile;
      } catch {
        return false;
      }
    });
  const missing = ["curl", "socat", "vsftpd", "cmp", "sync"]
    .filter((name) => !onPath(name))
    .map((name) => `${name} (apt-get install ${name === "cmp" ? "diffutils" : name})`);
  const python = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import pyftpdlib"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  if (!python?.success) missing.push("pyftpdlib (apt-get install python3-pyftpdlib)");
  return missing;
}

function isFolder(folder: string): boolean {
  try {
    return Deno.statSync(folder).isDirectory;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A spawned process whose output is drained (so it never blocks on a full pipe) and kept. */
export class Proc {
  /** Every process started and not yet exited, for the signal handler. */
  static readonly live = new Set<Proc>();
  readonly name: string;
  readonly child: Deno.ChildProcess;
  #output = "";
  #exited = false;
  readonly #drained: Promise<unknown>;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, command: string, args: string[], env?: Record<string, string>) {
    this.name = name;
    this.child = new Deno.Command(command, {
      args,
      env,
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    Proc.live.add(this);
    this.status = this.child.status.then((status) => {
      this.#exited = true;
      Proc.live.delete(this);
      return status;
    });
    this.#drained = Promise.all([this.#drain(this.child.stdout), this.#drain(this.child.stderr)]);
  }

  get pid(): number {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Everything the process printed so far (stdout and stderr interleaved). */
  get output(): string {
    return this.#output;
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#output += decoder.decode(chunk, { stream: true });
      // Keep the head (start-up messages) and a long tail; servers log every command.
      if (this.#output.length > 4 * MIB) {
        this.#output = this.#output.slice(0, 64 * 1024) + "\n[…]\n" + this.#output.slice(-MIB);
      }
    }
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it is gone. */
  async stop(graceMs = 5000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    if (await withTimeout(this.status, graceMs) === undefined) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    const status = await this.status;
    await this.#drained;
    return status;
  }

  /** Kill at once; for the signal handler. */
  killNow(): void {
    if (this.#exited) return;
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

/** `promise`'s value, or undefined if it takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Aborted on SIGINT/SIGTERM (see {@linkcode stopOnSignals}): kills the commands in flight. */
export const interrupted = new AbortController();

/**
 * Until the returned function is called: on SIGINT or SIGTERM, say `why`,
 * abort {@linkcode interrupted}, kill every process started, remove `work`
 * and exit with 130.
 */
export function stopOnSignals(work: string, why?: string): () => void {
  const onSignal = () => {
    if (why) console.error(why);
    interrupted.abort();
    for (const proc of Proc.live) proc.killNow();
    try {
      Deno.removeSync(work, { recursive: true });
    } catch { /* best effort */ }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return () => {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  };
}

/** Run a short command to completion; throws with its stderr when it fails. */
async function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  const { code, signal, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), interrupted.signal]),
  }).output();
  const ms = performance.now() - started;
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit ${code}${signal ? `, ${signal}` : ""}${
        ms >= timeoutMs ? `, timed out after ${timeoutMs} ms` : ""
      }): ${err.trim() || out.trim()}`,
    );
  }
  return { stdout: out, stderr: err, ms };
}

/** A port nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Whether something listens on 127.0.0.1:`port` (or 0.0.0.0), from /proc/net/tcp. */
export function isListening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const lines = Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1);
  return lines.some((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    if (state !== "0A" || !local) return false; // 0A = LISTEN
    return local === `0100007F:${hexPort}` || local === `00000000:${hexPort}`;
  });
}

/** Poll until `port` listens; fails if the process exits first or after `timeoutMs`. */
export async function waitListening(proc: Proc, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isListening(port)) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited before listening:\n${proc.output.trim()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${proc.name} not listening on ${port} after ${timeoutMs} ms:\n${proc.output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function procStatus(pid: number, field: string): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds used so far by process `pid` (all its threads). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on Linux for every architecture Deno runs on. */
const CLOCK_TICKS = 100;

// ---------------------------------------------------------------------------------------------
// Servers

export interface Server {
  name: string;
  proc: Proc;
  port: number;
}

async function startExftp(root: string): Promise<Server> {
  // Port 0: exftp picks a free port and prints it, so there is no race for it.
  const proc = new Proc(
    "exftp",
    Deno.execPath(),
    ["run", "-A", MAIN_TS, "--root", root, "--port", "0"],
    { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = proc.output.match(/Accepting connections on [\d.]+:(\d+)/);
    if (match) return { name: "exftp", proc, port: Number(match[1]) };
    if (proc.exited) throw new Error(`exftp exited before listening:\n${proc.output.trim()}`);
    if (Date.now() > deadline) throw new Error(`exftp did not start in 20 s:\n${proc.output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startVsftpd(root: string, work: string): Promise<Server> {
  const port = freePort();
  const conf = path.join(work, "vsftpd.conf");
  // Anonymous access as root: vsftpd chroots the anonymous user (`ftp`) into anon_root, which
  // must not be writable by it; uploads go to the world-writable up/ folder inside.
  await Deno.writeTextFile(
    conf,
    [
      "listen=YES",
      "listen_ipv6=NO",
      "listen_address=127.0.0.1",
      `listen_port=${port}`,
      "background=NO",
      "anonymous_enable=YES",
      "local_enable=NO",
      `anon_root=${root}`,
      "no_anon_password=YES",
      "write_enable=YES",
      "anon_upload_enable=YES",
      "anon_mkdir_write_enable=YES",
      "anon_other_write_enable=YES",
      "seccomp_sandbox=NO",
      "xferlog_enable=NO",
      "max_clients=0",
      "max_per_ip=0",
      "",
    ].join("\n"),
  );
  // vsftpd reports its errors on fd 0 (PLATFORM.md): point fd 0 at stderr so we see them.
  const proc = new Proc("vsftpd", "/bin/sh", ["-c", 'exec vsftpd "$1" 0>&2', "sh", conf]);
  await waitListening(proc, port);
  return { name: "vsftpd", proc, port };
}

async function startPyftpdlib(root: string): Promise<Server> {
  const port = freePort();
  const proc = new Proc("pyftpdlib", "/usr/bin/python3", [
    "-m",
    "pyftpdlib",
    "-p",
    String(port),
    "-i",
    "127.0.0.1",
    "-d",
    root,
    "-w",
  ]);
  await waitListening(proc, port);
  return { name: "pyftpdlib", proc, port };
}

// ---------------------------------------------------------------------------------------------
// Workloads

interface Sample {
  mibps: number;
  seconds: number;
  /** CPU seconds the server process used during the transfer, where it can be measured. */
  cpu?: number;
}

interface Context {
  root: string;
  file: string;
  size: number;
  timeoutMs: number;
}

/** curl's -w fields we use: bytes down, bytes up, total seconds (connect, login, transfer, 226). */
const CURL_FORMAT = "%{size_download} %{size_upload} %{time_total}";

async function curl(args: string[], timeoutMs: number) {
  const { stdout } = await run("curl", [
    "-sS",
    "--max-time",
    String(Math.ceil(timeoutMs / 1000)),
    "-w",
    CURL_FORMAT,
    ...args,
  ], timeoutMs + 5000);
  const [down, up, seconds] = stdout.trim().split(" ").map(Number);
  return { down, up, seconds };
}

async function retr(ctx: Context, server: Server): Promise<Sample> {
  const url = `ftp://127.0.0.1:${server.port}/data.bin`;
  const { down, seconds } = await curl(["-o", "/dev/null", url], ctx.timeoutMs);
  if (down !== ctx.size) {
    throw new Error(`${server.name} RETR: got ${down} bytes, expected ${ctx.size}`);
  }
  return { mibps: ctx.size / MIB / seconds, seconds };
}

async function stor(ctx: Context, server: Server, n: number, compare: boolean): Promise<Sample> {
  const name = `${server.name}-${n}.bin`;
  const target = path.join(ctx.root, "up", name);
  const url = `ftp://127.0.0.1:${server.port}/up/${name}`;
  const { up, seconds } = await curl(["-T", ctx.file, url], ctx.timeoutMs);
  if (up !== ctx.size) throw new Error(`${server.name} STOR: curl sent ${up} bytes of ${ctx.size}`);
  await checkCopy(`${server.name} STOR`, ctx, target, compare);
  return { mibps: ctx.size / MIB / seconds, seconds };
}

/** The raw loopback limit: socat from the file to a TCP socket to /dev/null (or a file). */
async function socatPipe(ctx: Context, toFile: boolean, n: number): Promise<Sample> {
  const port = freePort();
  const target = toFile ? path.join(ctx.root, "up", `socat-${n}.bin`) : "/dev/null";
  const block = "1048576"; // socat's default 8 KiB blocks are ~2.5x slower than 1 MiB ones
  const receiver = new Proc("socat receiver", "socat", [
    "-u",
    "-b",
    block,
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
    `CREATE:${target}`,
  ]);
  try {
    await waitListening(receiver, port);
    const started = performance.now();
    await run(
      "socat",
      ["-u", "-b", block, `OPEN:${ctx.file},rdonly`, `TCP:127.0.0.1:${port}`],
      ctx.timeoutMs,
    );
    const status = await withTimeout(receiver.status, ctx.timeoutMs);
    if (!status?.success) throw new Error(`socat receiver failed: ${receiver.output}`);
    const seconds = (performance.now() - started) / 1000;
    if (toFile) await checkCopy("socat", ctx, target, false);
    return { mibps: ctx.size / MIB / seconds, seconds };
  } finally {
    await receiver.stop(1000);
  }
}

/** Check an uploaded copy's size (and optionally its bytes), then delete it. */
async function checkCopy(what: string, ctx: Context, target: string, compare: boolean) {
  let size: number;
  try {
    size = (await Deno.stat(target)).size;
  } catch (error) {
    throw new Error(`${what}: uploaded file missing after 226: ${(error as Error).message}`);
  }
  if (size !== ctx.size) {
    throw new Error(`${what}: uploaded file has ${size} bytes, expected ${ctx.size}`);
  }
  if (compare) await run("cmp", ["-s", ctx.file, target], ctx.timeoutMs);
  await Deno.remove(target);
  // Deleting a file drops its dirty pages; sync so the next run starts from a clean page cache.
  await run("sync", [], ctx.timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// Report

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) =>
    row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("   ")
  ).join("\n");
}

const fmt = (n: number | undefined, digits = 0) => n === undefined ? "-" : n.toFixed(digits);
const mib = (bytes: number | undefined) => bytes === undefined ? "?" : `${fmt(bytes / MIB, 1)} MiB`;

// ---------------------------------------------------------------------------------------------
// Main

async function createRandomFile(file: string, size: number): Promise<void> {
  const handle = await Deno.open(file, { write: true, createNew: true });
  try {
    const chunk = new Uint8Array(MIB);
    for (let done = 0; done < size; done += chunk.length) {
      for (let i = 0; i < chunk.length; i += 65536) {
        crypto.getRandomValues(chunk.subarray(i, i + 65536)); // at most 64 KiB per call
      }
      const part = chunk.subarray(0, Math.min(chunk.length, size - done));
      for (let off = 0; off < part.length;) off += await handle.write(part.subarray(off));
    }
  } finally {
    handle.close();
  }
}

async function main(args: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(args);
  } catch (error) {
    console.error(`throughput: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!settings) return 0;
  const { sizeMiB, runs, dir } = settings;
  const missing = await missingTools();
  if (missing.length) {
    console.error(`throughput: missing: ${missing.join(", ")}`);
    return 2;
  }
  const size = sizeMiB * MIB;

  const work = await Deno.makeTempDir({ dir, prefix: "exftp-bench-" });
  const servers: Server[] = [];
  const stopHandlingSignals = stopOnSignals(
    work,
    `\nthroughput: interrupted; stopping servers and removing ${work}`,
  );
  const log = (line: string) => console.error(line);

  try {
    // The served folder: readable by vsftpd's anonymous user, uploads into world-writable up/.
    const root = path.join(work, "root");
    await Deno.mkdir(path.join(root, "up"), { recursive: true });
    await Deno.chmod(work, 0o755);
    await Deno.chmod(root, 0o755);
    await Deno.chmod(path.join(root, "up"), 0o777);
    const file = path.join(root, "data.bin");
    log(`Creating a ${sizeMiB} MiB random file in ${root} …`);
    await createRandomFile(file, size);
    await Deno.chmod(file, 0o644);
    await run("sync", [], 600_000);
    // Generous: a transfer slower than 5 MiB/s counts as hung.
    const ctx: Context = { root, file, size, timeoutMs: Math.max(120_000, sizeMiB * 200) };

    log("Starting exftp, vsftpd and pyftpdlib …");
    const exftp = await startExftp(root);
    servers.push(exftp);
    const rssIdle = procStatus(exftp.proc.pid, "VmRSS");
    for (const start of [() => startVsftpd(root, work), () => startPyftpdlib(root)]) {
      servers.push(await start());
    }
    for (const s of servers) log(`  ${s.name}: 127.0.0.1:${s.port} (pid ${s.proc.pid})`);

    // Interleaved rounds: every target once per round, so drift is shared.
    type Key = "loopback" | "exftp" | "vsftpd" | "pyftpdlib";
    const down = new Map<Key, Sample[]>();
    const up = new Map<Key, Sample[]>();
    // Round 0 is a warm-up that is not counted: on a fresh VM, memory touched for the first
    // time is several times slower to write than reused memory (seen here: 380 vs 1400 MiB/s),
    // which would otherwise penalise whichever target runs first.
    const add = (map: Map<Key, Sample[]>, key: Key, sample: Sample, what: string, n: number) => {
      if (n > 0) map.set(key, [...(map.get(key) ?? []), sample]);
      const cpu = sample.cpu === undefined ? "" : `, server CPU ${fmt(sample.cpu, 2)} s`;
      log(
        `  ${what} ${key.padEnd(9)} ${fmt(sample.mibps).padStart(6)} MiB/s (${
          fmt(sample.seconds, 3)
        } s${cpu})${n === 0 ? " warm-up, not counted" : ""}`,
      );
    };
    // vsftpd serves each session in a child process, so only exftp's (and pyftpdlib's single
    // process's) CPU time can be read this way.
    const cpuOf = async (server: Server, work: Promise<Sample>): Promise<Sample> => {
      const before = cpuSeconds(server.proc.pid);
      const sample = await work;
      const after = cpuSeconds(server.proc.pid);
      const measurable = server.name !== "vsftpd" && before !== undefined && after !== undefined;
      return measurable ? { ...sample, cpu: after - before } : sample;
    };
    const round = (n: number) => n === 0 ? "warm-up round" : `round ${n}/${runs}`;

    for (let n = 0; n <= runs; n++) {
      log(`Download ${round(n)} (RETR to /dev/null; loopback: socat file → /dev/null)`);
      add(down, "loopback", await socatPipe(ctx, false, n), "RETR", n);
      for (const s of servers) add(down, s.name as Key, await cpuOf(s, retr(ctx, s)), "RETR", n);
    }
    const rssAfterRetr = procStatus(exftp.proc.pid, "VmHWM");
    for (let n = 0; n <= runs; n++) {
      log(`Upload ${round(n)} (STOR from the file; loopback: socat file → file)`);
      add(up, "loopback", await socatPipe(ctx, true, n), "STOR", n);
      for (const s of servers) {
        add(up, s.name as Key, await cpuOf(s, stor(ctx, s, n, n === runs)), "STOR", n);
      }
    }
    const rssPeak = procStatus(exftp.proc.pid, "VmHWM");
    const rssEnd = procStatus(exftp.proc.pid, "VmRSS");
    if (exftp.proc.exited) throw new Error(`exftp died during the run:\n${exftp.proc.output}`);

    const med = (map: Map<Key, Sample[]>, key: Key) => median(map.get(key)!.map((s) => s.mibps));
    const all = (map: Map<Key, Sample[]>, key: Key) =>
      map.get(key)!.map((s) => fmt(s.mibps)).join(" / ");
    const keys: Key[] = ["loopback", "exftp", "vsftpd", "pyftpdlib"];
    const label: Record<Key, string> = {
      loopback: "loopback limit (socat)",
      exftp: "exftp",
      vsftpd: "vsftpd",
      pyftpdlib: "pyftpdlib",
    };
    const rows = [
      ["MiB/s (median)", "RETR", "STOR", "RETR runs, by round", "STOR runs, by round"],
      ...keys.map((k) => [label[k], fmt(med(down, k)), fmt(med(up, k)), all(down, k), all(up, k)]),
    ];
    // Ratios are paired by round (both ran back to back, under the same machine conditions)
    // and the median of those per-round ratios is reported; the host's speed drifts in phases
    // that move every target alike, which a ratio of medians from different rounds would not
    // cancel.
    const perRound = (map: Map<Key, Sample[]>, other: Key) =>
      map.get("exftp")!.map((s, i) => s.mibps / map.get(other)![i].mibps);
    const ratio = (other: Key) => [
      `exftp / ${label[other]}`,
      fmt(median(perRound(down, other)), 2),
      fmt(median(perRound(up, other)), 2),
      perRound(down, other).map((r) => fmt(r, 2)).join(" / "),
      perRound(up, other).map((r) => fmt(r, 2)).join(" / "),
    ];
    rows.push(ratio("vsftpd"), ratio("pyftpdlib"), ratio("loopback"));

    const fsType = await run("findmnt", ["-n", "-o", "FSTYPE", "--target", work], 10_000).then(
      (r) => r.stdout.trim().split("\n").at(-1) ?? "?", // the last line is the visible mount
      () => "?",
    );
    console.log(
      `\nexftp throughput: ${sizeMiB} MiB random file, curl client, 127.0.0.1, median of ${runs} after a warm-up round`,
    );
    console.log(`Files in ${path.dirname(work)} (${fsType})`);
    console.log(
      `(${Deno.build.target}, ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno})\n`,
    );
    console.log(table(rows));
    console.log("(exftp / x: median of the per-round ratios, each round's pair ran back to back)");
    console.log(
      `\nexftp RSS: ${mib(rssIdle)} after start, peak (VmHWM) ${mib(rssAfterRetr)} after the ` +
        `downloads, ${mib(rssPeak)} at the end (current RSS at the end ${mib(rssEnd)})`,
    );
    console.log(
      "Every transfer was size-checked; the last upload to each server was also compared byte " +
        "for byte (cmp).",
    );
    const cpuPerGiB = (map: Map<Key, Sample[]>, key: Key) =>
      fmt(median(map.get(key)!.map((s) => s.cpu! / (size / (1024 * MIB)))), 2);
    console.log(
      `CPU seconds per GiB (median, user+system, all threads): exftp RETR ${
        cpuPerGiB(down, "exftp")
      }, STOR ${cpuPerGiB(up, "exftp")}; pyftpdlib RETR ${cpuPerGiB(down, "pyftpdlib")}, STOR ${
        cpuPerGiB(up, "pyftpdlib")
      }`,
    );
    const problems = exftp.proc.output.split("\n").filter((l) => /\b(WARN|ERROR)\b/.test(l));
    if (problems.length) {
      console.log(`\nexftp logged ${problems.length} warning/error line(s):`);
      for (const line of problems.slice(0, 20)) console.log(`  ${line}`);
    }
    return 0;
  } catch (error) {
    console.error(`\nthroughput: ${(error as Error).message}`);
    for (const s of servers) {
      const tail = s.proc.output.trim().split("\n").slice(-15).join("\n    ");
      if (tail) console.error(`  last output of ${s.name}:\n    ${tail}`);
    }
    return 1;
  } finally {
    // Every process still running, including a server whose start failed half-way.
    for (const proc of [...Proc.live]) {
      const status = await proc.stop();
      if (proc.name === "exftp" && !status.success) {
        console.error(`exftp exited with code ${status.code} (signal ${status.signal}) on SIGTERM`);
      }
    }
    await Deno.remove(work, { recursive: true }).catch((error) =>
      console.error(`throughput: could not remove ${work}: ${error.message}`)
    );
    stopHandlingSignals();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
