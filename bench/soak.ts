/**
 * Soak benchmark: N clients doing mixed logins, listings, uploads, downloads, renames and
 * deletes for M minutes against one exftp process, sampling the server's RSS, open file
 * descriptors and CPU every few seconds. Goals: zero errors and a flat RSS.
 *
 *   deno run --allow-all bench/soak.ts [--clients 50] [--minutes 1] [--dir DIR] [--seed N]
 *
 * exftp runs as its own process (`deno run -A main.ts --config CFG --root DIR --port 0`), so the
 * RSS is the server's alone. See README.md ("soak.ts").
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import { RawFtpClient } from "../src/testing/raw_client.ts";

const USAGE = `Usage: deno run --allow-all bench/soak.ts [options]

  --clients N     concurrent clients (default 50)
  --minutes M     how long to run; fractions allowed (default 1)
  --sample-s S    seconds between RSS samples (default 5)
  --max-kib K     largest upload in KiB (default 1024)
  --dir DIR       where the temp folder goes (default /dev/shm if it is a folder)
  --seed N        seed of the clients' random choices (default 1)
  --help          show this help`;

const MIB = 1024 * 1024;
const REPO = path.join(import.meta.dirname!, "..");
const MAIN_TS = path.join(REPO, "main.ts");
/** One operation may take this long before it counts as hung (and the client reconnects). */
const OP_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Settings

interface Settings {
  clients: number;
  minutes: number;
  sampleSeconds: number;
  maxKiB: number;
  dir: string | undefined;
  seed: number;
}

function parseSettings(args: string[]): Settings | undefined {
  const { values } = parseArgs({
    args,
    options: {
      clients: { type: "string" },
      minutes: { type: "string" },
      "sample-s": { type: "string" },
      "max-kib": { type: "string" },
      dir: { type: "string" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const num = (name: string, raw: string | undefined, fallback: number, integer: boolean) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(n > 0) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: not a positive ${integer ? "integer" : "number"}: ${raw}`);
    }
    return n;
  };
  let dir = values.dir;
  if (dir === undefined) {
    try {
      if (Deno.statSync("/dev/shm").isDirectory) dir = "/dev/shm";
    } catch { /* no tmpfs: the system temp folder */ }
  }
  return {
    clients: num("clients", values.clients, 50, true),
    minutes: num("minutes", values.minutes, 1, false),
    sampleSeconds: num("sample-s", values["sample-s"], 5, false),
    maxKiB: num("max-kib", values["max-kib"], 1024, true),
    dir,
    seed: num("seed", values.seed, 1, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, length)));
  }
  return bytes;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function table(rows: (string | number)[][], rightAlign = true): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((row) =>
    row.map((cell, i) =>
      i === 0 || !rightAlign ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])
    ).join("  ").trimEnd()
  ).join("\n");
}

/** Reject after `ms`, calling `onTimeout` first (it closes what the operation waits on). */
async function withTimeout<T>(ms: number, onTimeout: () => void, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The server process

interface ServerProcess {
  child: Deno.ChildProcess;
  port: number;
  log: { info: number; warn: number; error: number; other: number; samples: string[] };
  drained: Promise<void>;
}

async function startServer(root: string, config: string): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, "--config", config, "--root", root, "--port", "0"],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = { info: 0, warn: 0, error: 0, other: 0, samples: [] as string[] };
  const lines = async (
    stream: ReadableStream<Uint8Array>,
    each: (line: string) => void,
  ): Promise<void> => {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const line of parts) each(line);
    }
    if (pending) each(pending);
  };
  const { promise: ready, resolve, reject } = Promise.withResolvers<number>();
  const stdout = lines(child.stdout, (line) => {
    const match = /Accepting connections on .*:(\d+)$/.exec(line);
    if (match) resolve(Number(match[1]));
  });
  const stderr = lines(child.stderr, (line) => {
    const level = /^\S+ (INFO|WARN|ERROR|DEBUG) /.exec(line)?.[1];
    if (level === "INFO" || level === "DEBUG") log.info++;
    else if (level === "WARN") log.warn++;
    else if (level === "ERROR") log.error++;
    else log.other++;
    if (level !== "INFO" && level !== "DEBUG" && log.samples.length < 20) log.samples.push(line);
  });
  child.status.then((status) => reject(new Error(`exftp exited early (${status.code})`)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const port = await Promise.race([
    ready,
    new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error("exftp did not start within 30 s")), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return { child, port, log, drained: Promise.all([stdout, stderr]).then(() => {}) };
}

/** SIGTERM (graceful shutdown), SIGKILL after `graceMs`; resolves with the exit code. */
async function stopServer(server: ServerProcess, graceMs = 15_000): Promise<number> {
  try {
    server.child.kill("SIGTERM");
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        server.child.kill("SIGKILL");
      } catch { /* gone */ }
      resolve();
    }, graceMs);
  });
  const status = await Promise.race([server.child.status, killed.then(() => server.child.status)]);
  clearTimeout(timer);
  await server.drained;
  return status.code;
}

interface ProcSample {
  rssKiB: number;
  hwmKiB: number;
  fds: number;
  cpuTicks: number;
}

function readProc(pid: number): ProcSample | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1]);
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
    let fds = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) fds++;
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), fds, cpuTicks };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

const KINDS = ["login", "list", "nlst", "mlsd", "upload", "download", "rename", "delete"] as const;
type Kind = typeof KINDS[number];

interface Stats {
  ops: Record<Kind, number>;
  errors: Record<Kind, number>;
  latencies: Record<Kind, number[]>;
  bytesUp: number;
  bytesDown: number;
  errorSamples: string[];
}

function newStats(): Stats {
  const zero = () => Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  return {
    ops: zero(),
    errors: zero(),
    latencies: Object.fromEntries(KINDS.map((k) => [k, []])) as unknown as Record<Kind, number[]>,
    bytesUp: 0,
    bytesDown: 0,
    errorSamples: [],
  };
}

interface Shared {
  name: string;
  size: number;
  sha: string;
}

interface OwnFile {
  size: number;
  /** Unknown after an operation on it failed midway: not byte-checked, deleted first. */
  sha?: string;
}

class Failure extends Error {}

function expectCodes(what: string, got: { code: number; lines: string[] }[], want: number[]) {
  const codes = got.map((r) => r.code);
  if (codes.join() !== want.join()) {
    throw new Failure(`${what}: got ${got.map((r) => r.lines.join(" | ")).join(" / ")}`);
  }
}

/** One simulated user: its own folder, a model of what it holds, and a random walk of ops. */
class SoakClient {
  readonly dir: string;
  readonly #files = new Map<string, OwnFile>();
  readonly #random: () => number;
  #client?: RawFtpClient;
  #data?: Deno.Conn;
  #counter = 0;

  constructor(
    readonly id: number,
    readonly port: number,
    readonly shared: Shared[],
    readonly pool: Uint8Array,
    readonly maxBytes: number,
    readonly stats: Stats,
    seed: number,
  ) {
    this.dir = `/c${id}`;
    this.#random = mulberry32(seed * 7919 + id);
  }

  get files(): ReadonlyMap<string, OwnFile> {
    return this.#files;
  }

  async run(deadline: number, stopped: () => boolean): Promise<void> {
    while (Date.now() < deadline && !stopped()) {
      const kind = this.#client ? this.#choose() : "login";
      const started = performance.now();
      try {
        await withTimeout(OP_TIMEOUT_MS, () => this.#drop(), this.#run(kind));
        this.stats.ops[kind]++;
        this.stats.latencies[kind].push(performance.now() - started);
      } catch (error) {
        this.stats.errors[kind]++;
        if (this.stats.errorSamples.length < 20) {
          this.stats.errorSamples.push(
            `${new Date().toISOString()} client ${this.id} ${kind}: ${(error as Error).message}`,
          );
        }
        this.#drop(); // start over on a fresh connection
      }
    }
    if (this.#client) {
      try {
        await withTimeout(10_000, () => this.#drop(), this.#client.send("QUIT"));
      } catch { /* counted nowhere: the run is over */ }
      this.#drop();
    }
  }

  #choose(): Kind {
    const own = this.#files.size;
    const unknown = [...this.#files.values()].some((f) => f.sha === undefined);
    if (unknown) return "delete";
    if (own === 0) return this.#random() < 0.5 ? "upload" : this.#pick(["list", "nlst", "mlsd"]);
    if (own >= 12) return this.#random() < 0.5 ? "delete" : "download";
    const r = this.#random() * 100;
    if (r < 5) return "login";
    if (r < 15) return "list";
    if (r < 25) return "nlst";
    if (r < 35) return "mlsd";
    if (r < 57) return "upload";
    if (r < 79) return "download";
    if (r < 90) return "rename";
    return "delete";
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)];
  }

  #drop(): void {
    try {
      this.#data?.close();
    } catch { /* closed */ }
    this.#data = undefined;
    this.#client?.close();
    this.#client = undefined;
  }

  async #run(kind: Kind): Promise<void> {
    switch (kind) {
      case "login":
        return await this.#login();
      case "list":
        return await this.#list();
      case "nlst":
        return await this.#nlst();
      case "mlsd":
        return await this.#mlsd();
      case "upload":
        return await this.#upload();
      case "download":
        return await this.#download();
      case "rename":
        return await this.#rename();
      case "delete":
        return await this.#delete();
    }
  }

  get #c(): RawFtpClient {
    if (!this.#client) throw new Failure("not connected");
    return this.#client;
  }

  async #login(): Promise<void> {
    if (this.#client) {
      expectCodes("QUIT", [await this.#client.send("QUIT")], [221]);
      this.#drop();
    }
    const client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: this.port });
    this.#client = client;
    if (client.greeting.code !== 220) {
      throw new Failure(`greeting: ${client.greeting.lines.join(" | ")}`);
    }
    await client.login(`soak${this.id}`, "soak");
    expectCodes("TYPE I", [await client.send("TYPE I")], [200]);
    const mkd = await client.send(`MKD ${this.dir}`);
    if (mkd.code !== 257 && mkd.code !== 550) expectCodes("MKD", [mkd], [257]);
    expectCodes("CWD", [await client.send(`CWD ${this.dir}`)], [250]);
  }

  /** A download over a fresh passive connection; the data socket is closed on a timeout. */
  async #receive(command: string): Promise<{ data: Uint8Array; replies: number[] }> {
    const c = this.#c;
    this.#data = await c.passive();
    const first = await c.send(command);
    if (first.code !== 150) {
      this.#data.close();
      this.#data = undefined;
      throw new Failure(`${command}: ${first.lines.join(" | ")}`);
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(await new Response(this.#data.readable).arrayBuffer());
    } catch (error) {
      throw new Failure(`${command}: data connection: ${(error as Error).message}`);
    }
    this.#data = undefined;
    const final = await c.read();
    if (final.code !== 226) throw new Failure(`${command}: ${final.lines.join(" | ")}`);
    this.stats.bytesDown += data.length;
    return { data, replies: [first.code, final.code] };
  }

  async #send(command: string, bytes: Uint8Array): Promise<void> {
    const c = this.#c;
    const data = await c.passive();
    this.#data = data;
    const first = await c.send(command);
    if (first.code !== 150) {
      data.close();
      this.#data = undefined;
      throw new Failure(`${command}: ${first.lines.join(" | ")}`);
    }
    let at = 0;
    try {
      while (at < bytes.length) at += await data.write(bytes.subarray(at));
    } catch (error) {
      throw new Failure(
        `${command}: data connection after ${at} bytes: ${(error as Error).message}`,
      );
    }
    data.close();
    this.#data = undefined;
    const final = await c.read();
    if (final.code !== 226) throw new Failure(`${command}: ${final.lines.join(" | ")}`);
    this.stats.bytesUp += bytes.length;
  }

  #listingText(data: Uint8Array): string[] {
    const text = new TextDecoder().decode(data);
    return text === "" ? [] : text.replace(/\r\n$/, "").split("\r\n");
  }

  #compareNames(what: string, got: string[], want: string[]): void {
    const a = [...got].sort().join("\n");
    const b = [...want].sort().join("\n");
    if (a !== b) throw new Failure(`${what}: listed ${JSON.stringify(got)}, expected ${b}`);
  }

  async #list(): Promise<void> {
    const shared = this.#random() < 0.3;
    const { data } = await this.#receive(shared ? "LIST -la /shared" : "LIST");
    const names = this.#listingText(data).map((line) => line.split(/\s+/).slice(8).join(" "))
      .filter((name) => name !== "." && name !== "..");
    this.#compareNames(
      "LIST",
      names,
      shared ? this.shared.map((s) => s.name) : [...this.#files.keys()],
    );
  }

  async #nlst(): Promise<void> {
    const { data } = await this.#receive(`NLST ${this.dir}`);
    const want = [...this.#files.keys()].map((name) => `${this.dir}/${name}`);
    this.#compareNames("NLST", this.#listingText(data), want);
  }

  async #mlsd(): Promise<void> {
    const { data } = await this.#receive("MLSD");
    const entries = this.#listingText(data).map((line) => {
      const space = line.indexOf(" ");
      const facts = Object.fromEntries(
        line.slice(0, space).split(";").filter(Boolean).map((f) => f.split("=")),
      );
      return { name: line.slice(space + 1), facts };
    }).filter((e) => e.facts.type === "file");
    this.#compareNames("MLSD", entries.map((e) => e.name), [...this.#files.keys()]);
    for (const { name, facts } of entries) {
      if (Number(facts.size) !== this.#files.get(name)!.size) {
        throw new Failure(
          `MLSD: ${name} size=${facts.size}, expected ${this.#files.get(name)!.size}`,
        );
      }
    }
  }

  async #upload(): Promise<void> {
    // Sizes spread over orders of magnitude (0 B … max), content from a random pool.
    const size = Math.floor(Math.pow(this.#random(), 3) * this.maxBytes);
    const offset = Math.floor(this.#random() * (this.pool.length - size));
    const bytes = this.pool.subarray(offset, offset + size);
    const name = `f${this.#counter++}.bin`;
    this.#files.set(name, { size }); // unknown until the 226
    await this.#send(`STOR ${name}`, bytes);
    this.#files.set(name, { size, sha: await sha256(bytes) });
    const reply = await this.#c.send(`SIZE ${name}`);
    if (reply.code !== 213 || Number(reply.text) !== size) {
      throw new Failure(`SIZE ${name}: ${reply.lines.join(" | ")}, expected ${size}`);
    }
  }

  async #download(): Promise<void> {
    const own = [...this.#files.entries()];
    let path: string;
    let want: { size: number; sha?: string };
    if (own.length === 0 || this.#random() < 0.3) {
      const s = this.#pick(this.shared);
      path = `/shared/${s.name}`;
      want = s;
    } else {
      const [name, file] = this.#pick(own);
      path = name;
      want = file;
    }
    const { data } = await this.#receive(`RETR ${path}`);
    if (data.length !== want.size || await sha256(data) !== want.sha) {
      throw new Failure(`RETR ${path}: ${data.length} bytes, not the ${want.size} stored`);
    }
  }

  async #rename(): Promise<void> {
    const [name, file] = this.#pick([...this.#files.entries()]);
    const to = `r${this.#counter++}.bin`;
    expectCodes(`RNFR ${name}`, [await this.#c.send(`RNFR ${name}`)], [350]);
    this.#files.set(name, { size: file.size }); // unknown until the 250
    const reply = await this.#c.send(`RNTO ${to}`);
    expectCodes(`RNTO ${to}`, [reply], [250]);
    this.#files.delete(name);
    this.#files.set(to, file);
  }

  async #delete(): Promise<void> {
    const entries = [...this.#files.entries()];
    const unknown = entries.find(([, f]) => f.sha === undefined);
    const [name] = unknown ?? this.#pick(entries);
    const reply = await this.#c.send(`DELE ${name}`);
    if (unknown && reply.code === 550) {
      // The failed operation never created it (or the rename did happen): look around.
      this.#files.delete(name);
      return;
    }
    expectCodes(`DELE ${name}`, [reply], [250]);
    this.#files.delete(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

interface Sample {
  seconds: number;
  proc: ProcSample;
  ops: number;
  errors: number;
}

async function main(): Promise<number> {
  const settings = parseSettings(Deno.args);
  if (!settings) return 0;
  const { clients, minutes, sampleSeconds, maxKiB, seed } = settings;
  const tmp = await Deno.makeTempDir({ dir: settings.dir, prefix: "exftp-soak-" });
  const root = path.join(tmp, "root");
  const config = path.join(tmp, "exftp.yaml");
  let server: ServerProcess | undefined;
  let stopping = false;
  const onSignal = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    console.error("\nInterrupted: stopping the clients…");
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await Deno.mkdir(path.join(root, "shared"), { recursive: true });
    const shared: Shared[] = [];
    for (
      const [name, size] of [["empty", 0], ["1k", 1024], ["64k", 65536], ["700k", 700_000], [
        "3m",
        3 * MIB,
      ]] as const
    ) {
      const bytes = randomBytes(size);
      await Deno.writeFile(path.join(root, "shared", `${name}.bin`), bytes);
      shared.push({ name: `${name}.bin`, size, sha: await sha256(bytes) });
    }
    await Deno.writeTextFile(
      config,
      [
        "min_passive_port: 0",
        "max_passive_port: 0",
        `max_sessions: ${Math.max(100, clients * 2)}`,
        `max_sessions_per_ip: ${Math.max(200, clients * 2)}`,
        "",
      ].join("\n"),
    );
    server = await startServer(root, config);
    const pid = server.child.pid;
    const pool = randomBytes(maxKiB * 1024 + 4 * MIB);
    const stats = newStats();
    const started = Date.now();
    const deadline = started + minutes * 60_000;
    const deno = Deno.version.deno;
    console.log(
      `exftp soak: ${clients} clients for ${minutes} min against exftp (pid ${pid}, port ${server.port}), ` +
        `uploads up to ${maxKiB} KiB, files in ${tmp} (Deno ${deno}, ${Deno.build.target})`,
    );

    const totalOps = () => KINDS.reduce((n, k) => n + stats.ops[k], 0);
    const totalErrors = () => KINDS.reduce((n, k) => n + stats.errors[k], 0);
    const samples: Sample[] = [];
    const sample = () => {
      const proc = readProc(pid);
      if (!proc) return;
      const s = {
        seconds: (Date.now() - started) / 1000,
        proc,
        ops: totalOps(),
        errors: totalErrors(),
      };
      const prev = samples.at(-1);
      samples.push(s);
      const dt = prev ? s.seconds - prev.seconds : s.seconds;
      const rate = prev ? (s.ops - prev.ops) / dt : 0;
      const cpu = prev ? ((s.proc.cpuTicks - prev.proc.cpuTicks) / 100 / dt) * 100 : 0;
      console.log(
        `t=${s.seconds.toFixed(0).padStart(4)}s  rss=${(proc.rssKiB / 1024).toFixed(1)} MiB  ` +
          `fds=${proc.fds}  ops=${s.ops} (${rate.toFixed(0)}/s)  errors=${s.errors}  ` +
          `server cpu=${cpu.toFixed(0)}%`,
      );
    };
    sample();
    const sampler = setInterval(sample, sampleSeconds * 1000);
    const workers = Array.from(
      { length: clients },
      (_, i) => new SoakClient(i, server!.port, shared, pool, maxKiB * 1024, stats, seed),
    );
    try {
      await Promise.all(workers.map((w) => w.run(deadline, () => stopping)));
    } finally {
      clearInterval(sampler);
    }
    sample();
    const elapsed = (Date.now() - started) / 1000;

    // What the clients think they hold is what is on disk, byte for byte.
    let checked = 0;
    const mismatches: string[] = [];
    for (const worker of workers) {
      const folder = path.join(root, worker.dir.slice(1));
      let onDisk: string[] = [];
      try {
        onDisk = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      } catch { /* never created */ }
      const want = [...worker.files.keys()].sort();
      if (onDisk.join() !== want.join()) {
        mismatches.push(`${worker.dir}: on disk ${onDisk.join(",")}; expected ${want.join(",")}`);
        continue;
      }
      for (const [name, file] of worker.files) {
        if (file.sha === undefined) continue;
        const bytes = await Deno.readFile(path.join(folder, name));
        checked++;
        if (bytes.length !== file.size || await sha256(bytes) !== file.sha) {
          mismatches.push(`${worker.dir}/${name}: content differs`);
        }
      }
    }

    const hwm = readProc(pid)?.hwmKiB;
    const log = server.log;
    const exitCode = await stopServer(server);
    server = undefined;
    report({ settings, stats, samples, elapsed, checked, mismatches, exitCode, hwm, log });
    return totalErrors() === 0 && mismatches.length === 0 && exitCode === 0 ? 0 : 1;
  } finally {
    if (server) await stopServer(server, 2000);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function report(r: {
  settings: Settings;
  stats: Stats;
  samples: Sample[];
  elapsed: number;
  checked: number;
  mismatches: string[];
  exitCode: number;
  hwm?: number;
  log: ServerProcess["log"];
}): void {
  const { stats, samples, elapsed } = r;
  console.log(`\nOperations (${elapsed.toFixed(0)} s, ${r.settings.clients} clients)`);
  const rows: (string | number)[][] = [[
    "kind",
    "ops",
    "ops/s",
    "errors",
    "p50 ms",
    "p99 ms",
    "max ms",
  ]];
  let ops = 0;
  let errors = 0;
  for (const kind of KINDS) {
    const sorted = stats.latencies[kind].sort((a, b) => a - b);
    ops += stats.ops[kind];
    errors += stats.errors[kind];
    rows.push([
      kind,
      stats.ops[kind],
      (stats.ops[kind] / elapsed).toFixed(1),
      stats.errors[kind],
      percentile(sorted, 50).toFixed(1),
      percentile(sorted, 99).toFixed(1),
      (sorted.at(-1) ?? NaN).toFixed(1),
    ]);
  }
  rows.push(["total", ops, (ops / elapsed).toFixed(1), errors, "", "", ""]);
  console.log(table(rows));
  console.log(
    `data: ${(stats.bytesUp / MIB).toFixed(0)} MiB uploaded, ${
      (stats.bytesDown / MIB).toFixed(0)
    } MiB downloaded (every download byte-checked)`,
  );

  // RSS over time: one row per minute (per sample when the run is short).
  const perMinute = elapsed > 180;
  const picked = perMinute
    ? samples.filter((s, i) =>
      i === 0 || i === samples.length - 1 ||
      Math.floor(s.seconds / 60) !== Math.floor(samples[i - 1].seconds / 60)
    )
    : samples;
  console.log(
    `\nServer process over time (${perMinute ? "first sample of each minute" : "every sample"})`,
  );
  const rss: (string | number)[][] = [["t (s)", "RSS MiB", "fds", "ops so far", "errors"]];
  for (const s of picked) {
    rss.push([
      s.seconds.toFixed(0),
      (s.proc.rssKiB / 1024).toFixed(1),
      s.proc.fds,
      s.ops,
      s.errors,
    ]);
  }
  console.log(table(rss));
  const mib = (s: Sample) => s.proc.rssKiB / 1024;
  const after = samples.filter((s) => s.seconds >= Math.min(60, elapsed / 2));
  if (after.length >= 2) {
    // Least-squares slope of RSS after the first minute (warm-up), in MiB per minute.
    const xs = after.map((s) => s.seconds / 60);
    const ys = after.map(mib);
    const mx = xs.reduce((a, b) => a + b) / xs.length;
    const my = ys.reduce((a, b) => a + b) / ys.length;
    const slope = xs.reduce((n, x, i) => n + (x - mx) * (ys[i] - my), 0) /
      xs.reduce((n, x) => n + (x - mx) ** 2, 0);
    console.log(
      `RSS after warm-up (t >= ${after[0].seconds.toFixed(0)} s): min ${
        Math.min(...ys).toFixed(1)
      }, max ${Math.max(...ys).toFixed(1)} MiB, trend ${slope >= 0 ? "+" : ""}${
        slope.toFixed(2)
      } MiB/min; peak (VmHWM) ${r.hwm ? (r.hwm / 1024).toFixed(1) : "?"} MiB`,
    );
  }
  const { log } = r;
  console.log(
    `server log: ${log.info} info, ${log.warn} warn, ${log.error} error, ${log.other} other lines`,
  );
  for (const line of log.samples) console.log(`  ${line}`);
  for (const sample of stats.errorSamples) console.log(`error: ${sample}`);
  console.log(
    `final check: ${r.checked} files byte-compared on disk, ${r.mismatches.length} mismatches; ` +
      `exftp exit code after SIGTERM: ${r.exitCode}`,
  );
  for (const m of r.mismatches.slice(0, 20)) console.log(`  ${m}`);
}

if (import.meta.main) {
  Deno.exit(await main());
}
