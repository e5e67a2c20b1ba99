/**
 * The client side of `bench/concurrency.ts`: one process driving many FTP
 * connections with raw sockets (no FTP library, a reused read buffer per
 * connection), so the client costs as little CPU per byte as a `socat` copy.
 * The orchestrator starts several of these and reads one JSON line from each.
 *
 *   deno run --allow-all bench/concurrency_client.ts '<job JSON>'
 *
 * Jobs (`mode`): `download`/`upload`/`list` loop for `durationMs` on
 * `connections` logged-in sessions; `login` runs `total` connect+login+QUIT
 * cycles, `connections` at a time; `idle` logs `connections` sessions in,
 * prints `READY`, and holds them until stdin closes; `raw-read`/`raw-write`
 * move `bytes` over plain TCP connections, one at a time, for `durationMs`
 * (the socat limit).
 *
 * @module
 */

/** What the orchestrator asks for. */
export interface ClientJob {
  mode: "download" | "upload" | "list" | "login" | "idle" | "raw-read" | "raw-write";
  host: string;
  port: number;
  /** Sessions at once. */
  connections: number;
  /** download/upload/list: how long to keep starting operations. */
  durationMs?: number;
  /** login: cycles in all. */
  total?: number;
  /** download: files to fetch (round robin), each `bytes` long. */
  files?: string[];
  /** download/upload/raw: bytes per file. */
  bytes?: number;
  /** upload: name prefix (the connection number and `.bin` are appended). */
  uploadPrefix?: string;
  /** list: folder to LIST. */
  listPath?: string;
  /** list: the listing must have at least this many lines. */
  minLines?: number;
  /** idle: connections opened at once (vsftpd's accept backlog is 32). */
  connectConcurrency?: number;
  /** Index of this client process, to keep upload names apart. */
  clientIndex?: number;
}

/** What a client prints when done. */
export interface ClientResult {
  ops: number;
  bytes: number;
  errors: number;
  errorSamples: string[];
  /** Seconds per operation, for the completed ones. */
  latencies: number[];
  /** Wall seconds of the timed phase. */
  wallSeconds: number;
  /** This process's user+system CPU seconds during the timed phase. */
  cpuSeconds: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Operations still running this long after the duration ended count as hung. */
const GRACE_MS = 60_000;
/** A login-storm cycle slower than this counts as an error. */
const LOGIN_TIMEOUT_MS = 10_000;

/** One control connection: write commands, read (multi-line) replies. */
class Control {
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async open(host: string, port: number): Promise<Control> {
    const control = new Control(await Deno.connect({ hostname: host, port }));
    await control.expect(2); // 220
    return control;
  }

  async #line(): Promise<string> {
    for (;;) {
      const lf = this.#buffer.subarray(this.#start, this.#end).indexOf(0x0a);
      if (lf >= 0) {
        const line = decoder.decode(this.#buffer.subarray(this.#start, this.#start + lf));
        this.#start += lf + 1;
        return line.replace(/\r$/, "");
      }
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.length) {
        const grown = new Uint8Array(this.#buffer.length * 2);
        grown.set(this.#buffer);
        this.#buffer = grown;
      }
      const n = await this.conn.read(this.#buffer.subarray(this.#end));
      if (n === null) throw new Error("control connection closed");
      this.#end += n;
    }
  }

  /** One complete reply: its code and last line. */
  async reply(): Promise<{ code: number; text: string }> {
    const first = await this.#line();
    const code = Number(first.slice(0, 3));
    let line = first;
    if (first[3] === "-") {
      while (!(line.startsWith(first.slice(0, 3)) && line[3] === " ")) line = await this.#line();
    }
    return { code, text: line };
  }

  /** Read a reply whose code starts with `digit`, else throw. */
  async expect(digit: number): Promise<string> {
    const { code, text } = await this.reply();
    if (Math.floor(code / 100) !== digit) throw new Error(`unexpected reply: ${text}`);
    return text;
  }

  async send(command: string): Promise<void> {
    const bytes = encoder.encode(command + "\r\n");
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  async command(command: string, digit: number): Promise<string> {
    await this.send(command);
    return await this.expect(digit);
  }

  async login(): Promise<void> {
    const { code, text } = await (async () => {
      await this.send("USER anonymous");
      return await this.reply();
    })();
    if (code === 331) await this.command("PASS bench@example.org", 2);
    else if (code !== 230) throw new Error(`USER: ${text}`);
    await this.command("TYPE I", 2);
  }

  /** EPSV, then connect the data connection. */
  async passive(host: string): Promise<Deno.Conn> {
    const text = await this.command("EPSV", 2);
    const match = text.match(/\(\|\|\|(\d+)\|\)/);
    if (!match) throw new Error(`EPSV: ${text}`);
    return await Deno.connect({ hostname: host, port: Number(match[1]) });
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Read a data connection to its end into `buffer`; returns the byte count. */
async function drain(conn: Deno.Conn, buffer: Uint8Array): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return total;
    total += n;
  }
}

/** Count the lines of a listing while draining it. */
async function drainLines(conn: Deno.Conn, buffer: Uint8Array): Promise<[number, number]> {
  let total = 0;
  let lines = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return [total, lines];
    total += n;
    for (let i = 0; i < n; i++) if (buffer[i] === 0x0a) lines++;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Writes `total` bytes from a shared pattern buffer in 1 MiB writes. */
async function writePattern(conn: Deno.Conn, pattern: Uint8Array, total: number): Promise<void> {
  let left = total;
  while (left > 0) {
    const chunk = Math.min(left, pattern.length);
    await writeAll(conn, pattern.subarray(0, chunk));
    left -= chunk;
  }
}

function pattern(): Uint8Array {
  const bytes = new Uint8Array(1024 * 1024);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  return bytes;
}

/** download/upload/list: log everyone in, then loop until the duration ends. */
async function timedLoop(job: ClientJob): Promise<ClientResult> {
  const result: ClientResult = {
    ops: 0,
    bytes: 0,
    errors: 0,
    errorSamples: [],
    latencies: [],
    wallSeconds: 0,
    cpuSeconds: 0,
  };
  const fail = (error: unknown) => {
    result.errors++;
    if (result.errorSamples.length < 5) result.errorSamples.push(String(error));
  };
  const controls: Control[] = [];
  // Logged in 16 at a time (vsftpd's accept backlog is 32: all at once, some
  // connects wait minutes for SYN-ACK retransmits), each within 15 s; the
  // login phase is not timed.
  const ready: Control[] = [];
  let opening = 0;
  await Promise.all(Array.from({ length: Math.min(16, job.connections) }, async () => {
    while (opening < job.connections) {
      opening++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const login = (async () => {
        const control = await Control.open(job.host, job.port);
        controls.push(control);
        await control.login();
        return control;
      })();
      login.catch(() => {});
      try {
        ready.push(
          await Promise.race([
            login,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error("no login within 15 s")), 15_000);
            }),
          ]),
        );
      } catch (error) {
        fail(error);
      } finally {
        clearTimeout(timer);
      }
    }
  }));
  const shared = job.mode === "upload" ? pattern() : undefined;
  const cpuStart = cpuSeconds();
  const started = performance.now();
  const deadline = started + (job.durationMs ?? 10_000);
  const hung = setTimeout(() => {
    for (const control of controls) control.close(); // pending reads reject: counted as errors
  }, (job.durationMs ?? 10_000) + GRACE_MS);
  const size = job.bytes ?? 0;
  await Promise.all(ready.map(async (control, index) => {
    const buffer = new Uint8Array(256 * 1024);
    let n = index;
    while (performance.now() < deadline) {
      const opStart = performance.now();
      let data: Deno.Conn | undefined;
      try {
        data = await control.passive(job.host);
        if (job.mode === "download") {
          const name = job.files![n++ % job.files!.length];
          await control.send(`RETR ${name}`);
          await control.expect(1);
          const got = await drain(data, buffer);
          await control.expect(2);
          if (got !== size) throw new Error(`RETR ${name}: ${got} bytes, expected ${size}`);
          result.bytes += got;
        } else if (job.mode === "upload") {
          await control.send(`STOR ${job.uploadPrefix}${job.clientIndex ?? 0}-${index}.bin`);
          await control.expect(1);
          await writePattern(data, shared!, size);
          data.close();
          data = undefined;
          await control.expect(2);
          result.bytes += size;
        } else {
          await control.send(`LIST ${job.listPath}`);
          await control.expect(1);
          const [got, lines] = await drainLines(data, buffer);
          await control.expect(2);
          if (lines < (job.minLines ?? 0)) throw new Error(`LIST: only ${lines} lines`);
          result.bytes += got;
        }
        result.ops++;
        result.latencies.push((performance.now() - opStart) / 1000);
      } catch (error) {
        fail(error);
        break; // the session's state is unknown now
      } finally {
        try {
          data?.close();
        } catch { /* closed */ }
      }
    }
  }));
  result.wallSeconds = (performance.now() - started) / 1000;
  result.cpuSeconds = cpuSeconds() - cpuStart;
  clearTimeout(hung);
  await Promise.allSettled(ready.map((c) => c.command("QUIT", 2)));
  for (const control of controls) control.close();
  return result;
}

/** `total` connect+login+QUIT cycles, `connections` at a time. */
async function loginStorm(job: ClientJob): Promise<ClientResult> {
  const result: ClientResult = {
    ops: 0,
    bytes: 0,
    errors: 0,
    errorSamples: [],
    latencies: [],
    wallSeconds: 0,
    cpuSeconds: 0,
  };
  let next = 0;
  const total = job.total ?? 1000;
  const cpuStart = cpuSeconds();
  const started = performance.now();
  // A server that can't keep up (vsftpd's accept backlog) must not stretch the run.
  const deadline = started + (job.durationMs ?? 60_000);
  await Promise.all(Array.from({ length: job.connections }, async () => {
    while (next < total && performance.now() < deadline) {
      next++;
      const opStart = performance.now();
      let control: Control | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        // A server whose accept queue overflows leaves a connect waiting for
        // SYN-ACK retransmits (a minute and more): that counts as an error.
        const cycle = (async () => {
          control = await Control.open(job.host, job.port);
          await control.login();
          await control.command("QUIT", 2);
        })();
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no login within ${LOGIN_TIMEOUT_MS} ms`)),
            LOGIN_TIMEOUT_MS,
          );
        });
        cycle.catch(() => {});
        await Promise.race([cycle, timeout]);
        result.ops++;
        result.latencies.push((performance.now() - opStart) / 1000);
      } catch (error) {
        result.errors++;
        if (result.errorSamples.length < 5) result.errorSamples.push(String(error));
      } finally {
        clearTimeout(timer);
        control?.close();
      }
    }
  }));
  result.wallSeconds = (performance.now() - started) / 1000;
  result.cpuSeconds = cpuSeconds() - cpuStart;
  return result;
}

/** Log `connections` sessions in (`connectConcurrency` at a time), say READY, hold them until stdin ends. */
async function idle(job: ClientJob): Promise<void> {
  const controls: Control[] = [];
  let errors = 0;
  let sample = "";
  let next = 0;
  const concurrency = Math.min(job.connectConcurrency ?? 200, job.connections);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < job.connections) {
      next++;
      try {
        const control = await Control.open(job.host, job.port);
        controls.push(control);
        await control.login();
      } catch (error) {
        errors++;
        sample ||= String(error);
      }
    }
  }));
  console.log(`READY ${JSON.stringify({ sessions: controls.length - errors, errors, sample })}`);
  // Held until the orchestrator closes our stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  for (const control of controls) control.close();
}

/** One plain TCP stream to or from socat: the userspace-copy limit. */
async function raw(job: ClientJob): Promise<ClientResult> {
  const shared = pattern();
  const buffer = new Uint8Array(256 * 1024);
  const latencies: number[] = [];
  let bytes = 0;
  const cpuStart = cpuSeconds();
  const started = performance.now();
  const deadline = started + (job.durationMs ?? 0);
  do {
    const opStart = performance.now();
    const conn = await Deno.connect({ hostname: job.host, port: job.port });
    if (job.mode === "raw-read") {
      bytes += await drain(conn, buffer);
    } else {
      await writePattern(conn, shared, job.bytes ?? 0);
      bytes += job.bytes ?? 0;
    }
    conn.close();
    latencies.push((performance.now() - opStart) / 1000);
  } while (performance.now() < deadline);
  const wallSeconds = (performance.now() - started) / 1000;
  return {
    ops: latencies.length,
    bytes,
    errors: 0,
    errorSamples: [],
    latencies,
    wallSeconds,
    cpuSeconds: cpuSeconds() - cpuStart,
  };
}

if (import.meta.main) {
  const job = JSON.parse(Deno.args[0]) as ClientJob;
  if (job.mode === "idle") {
    await idle(job);
  } else {
    const result = job.mode === "login"
      ? await loginStorm(job)
      : job.mode.startsWith("raw")
      ? await raw(job)
      : await timedLoop(job);
    console.log(JSON.stringify(result));
  }
  // Connects and reads abandoned by a timed-out login cycle would keep the process alive.
  Deno.exit(0);
}
