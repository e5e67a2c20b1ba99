/**
 * Microbenchmark of the download copy path: N concurrent file → TCP copies
 * (10 MiB files on tmpfs, round robin over 8) to a sink in another process,
 * one variant per copier process. Reports the copier's CPU seconds per GiB
 * (utime + stime from /proc/self/stat), MiB/s, and memory: VmRSS and V8's
 * `external` while running, VmHWM, and VmRSS after the copies ended and two
 * forced GCs. Runs by itself and stops.
 *
 *   deno run -A bench/copy_paths.ts [--clients 1,50,300] [--seconds 4] [--rounds 2]
 *     [--variants stream-1m,read-256k,...] [--dir /dev/shm]
 *
 * Variants (see README.md, "Downloads: CPU per GiB and buffers"):
 * - `stream-SIZE`: `FsFile.readable` read with a BYOB reader into a buffer of
 *   SIZE allocated per transfer (today's `sendStream` with SIZE = 1m);
 * - `read-SIZE`: `await file.read(buffer)` loops, a fresh buffer per transfer;
 * - `sync-SIZE`: `file.readSync(buffer)` while each call takes < 1 ms;
 * - `pool-` prefix: the buffer comes from a process-wide pool that keeps
 *   every buffer (`pool-read-256k`, `pool-sync-256k`, `pool-stream-256k`);
 * - `bpool-` prefix: a pool that keeps at most 32 buffers; a transfer that
 *   finds none free allocates one, dropped after it;
 * - `wpool-` prefix: at most 32 buffers exist; a transfer takes one per
 *   chunk (read + write) and waits, first come first served, when none is free
 *   (`wpool-sync-256k`; `wpool-stream-256k`: `FsFile.readable`; `wpool-bytes-256k`:
 *   a byte `ReadableStream` whose pull reads with `readSync`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";

const MIB = 1024 * 1024;
const FILE_BYTES = 10 * MIB;
const FILE_COUNT = 8;
const SIZES: Record<string, number> = {
  "64k": 64 * 1024,
  "128k": 128 * 1024,
  "256k": 256 * 1024,
  "1m": MIB,
};
/** Buffers a bounded pool keeps (`bpool-`, `wpool-` variants); `--pool N`. */
const POOL_BOUND = Number(Deno.env.get("COPY_POOL_BOUND") ?? 32);
const DEFAULT_VARIANTS = [
  "stream-1m",
  "stream-256k",
  "read-1m",
  "read-256k",
  "read-64k",
  "sync-1m",
  "sync-256k",
  "sync-64k",
  "pool-read-256k",
  "pool-sync-256k",
];

interface CopierResult {
  variant: string;
  clients: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  rssRunningMiB: number;
  externalRunningMiB: number;
  hwmMiB: number;
  rssAfterMiB: number;
  externalAfterMiB: number;
  allocations: number;
}

// ---------------------------------------------------------------------------
// /proc

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (ticks of 10 ms)
}

function statusMiB(key: string): number {
  const match = Deno.readTextFileSync("/proc/self/status").match(
    new RegExp(`^${key}:\\s+(\\d+) kB`, "m"),
  );
  return match ? Number(match[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------------------
// The sink: accepts connections and discards what arrives.

async function runSink(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`port ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(256 * 1024);
      try {
        while ((await conn.read(buffer)) !== null) { /* discard */ }
      } catch { /* closed */ }
      try {
        conn.close();
      } catch { /* closed */ }
    })();
  }
}

// ---------------------------------------------------------------------------
// The copier: one variant, N concurrent copy loops.

class BufferPool {
  readonly #free: Uint8Array[] = [];
  readonly #waiting: ((buffer: Uint8Array) => void)[] = [];
  readonly #size: number;
  readonly #keep: number;
  readonly #wait: boolean;
  allocations = 0;
  constructor(size: number, keep: number, wait: boolean) {
    this.#size = size;
    this.#keep = keep;
    this.#wait = wait;
  }
  take(): Uint8Array | Promise<Uint8Array> {
    const buffer = this.#free.pop();
    if (buffer) return buffer;
    if (this.#wait && this.allocations >= this.#keep) {
      return new Promise((resolve) => this.#waiting.push(resolve));
    }
    this.allocations++;
    return new Uint8Array(this.#size);
  }
  give(buffer: Uint8Array): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(buffer);
    else if (this.#free.length < this.#keep) this.#free.push(buffer);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

type Copy = (file: Deno.FsFile, conn: Deno.Conn) => Promise<number>;

function copierFor(variant: string): { copy: Copy; allocations: () => number } {
  const poolKind = variant.match(/^(pool|bpool|wpool)-/)?.[1];
  const pooled = poolKind !== undefined;
  const [kind, sizeName] = variant.replace(/^\w*pool-/, "").split("-");
  const size = SIZES[sizeName];
  if (!size) throw new RangeError(`Unknown buffer size in "${variant}"`);
  const pool = new BufferPool(
    size,
    poolKind === "pool" ? 100_000 : POOL_BOUND,
    poolKind === "wpool",
  );
  let fresh = 0;
  const take = () => {
    if (pooled) return pool.take();
    fresh++;
    return new Uint8Array(size);
  };
  const give = (buffer: Uint8Array) => pooled && pool.give(buffer);
  const allocations = () => pooled ? pool.allocations : fresh;
  if (poolKind === "wpool" && (kind === "stream" || kind === "bytes")) {
    return {
      allocations,
      copy: async (file, conn) => {
        const source = kind === "stream" ? file.readable : syncByteStream(file);
        const reader = source.getReader({ mode: "byob" });
        let total = 0;
        try {
          while (true) {
            const buffer = await pool.take();
            const result = await reader.read(buffer);
            if (!result.value) break;
            try {
              if (result.done) break;
              await writeAll(conn, result.value);
              total += result.value.length;
            } finally {
              pool.give(new Uint8Array(result.value.buffer as ArrayBuffer));
            }
          }
        } finally {
          reader.releaseLock();
        }
        return total;
      },
    };
  }
  if (poolKind === "wpool" && kind === "sync") {
    // One buffer per chunk: taken before the read, given back after the write.
    return {
      allocations,
      copy: async (file, conn) => {
        let total = 0;
        while (true) {
          const buffer = await pool.take();
          try {
            const n = file.readSync(buffer);
            if (n === null) break;
            await writeAll(conn, buffer.subarray(0, n));
            total += n;
          } finally {
            pool.give(buffer);
          }
        }
        file.close();
        return total;
      },
    };
  }
  if (kind === "stream") {
    return {
      allocations,
      copy: async (file, conn) => {
        const reader = file.readable.getReader({ mode: "byob" });
        let buffer = await take();
        let total = 0;
        try {
          while (true) {
            const result = await reader.read(buffer);
            if (result.done) {
              if (result.value) buffer = new Uint8Array(result.value.buffer as ArrayBuffer);
              break;
            }
            await writeAll(conn, result.value);
            total += result.value.length;
            buffer = new Uint8Array(result.value.buffer as ArrayBuffer);
          }
        } finally {
          reader.releaseLock();
          give(buffer);
        }
        return total;
      },
    };
  }
  if (kind === "read") {
    return {
      allocations,
      copy: async (file, conn) => {
        const buffer = await take();
        let total = 0;
        try {
          while (true) {
            const n = await file.read(buffer);
            if (n === null) break;
            await writeAll(conn, buffer.subarray(0, n));
            total += n;
          }
        } finally {
          give(buffer);
        }
        file.close();
        return total;
      },
    };
  }
  if (kind === "sync") {
    return {
      allocations,
      copy: async (file, conn) => {
        const buffer = await take();
        let total = 0;
        let sync = true;
        try {
          while (true) {
            let n: number | null;
            if (sync) {
              const started = performance.now();
              n = file.readSync(buffer);
              if (performance.now() - started > 1) sync = false;
            } else {
              n = await file.read(buffer);
            }
            if (n === null) break;
            await writeAll(conn, buffer.subarray(0, n));
            total += n;
          }
        } finally {
          give(buffer);
        }
        file.close();
        return total;
      },
    };
  }
  throw new RangeError(`Unknown variant "${variant}"`);
}

function syncByteStream(file: Deno.FsFile): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 64 * 1024,
    pull(controller) {
      const request = controller.byobRequest!;
      const n = file.readSync(request.view as Uint8Array);
      if (n === null) {
        file.close();
        controller.close();
        request.respond(0);
      } else {
        request.respond(n);
      }
    },
    cancel() {
      file.close();
    },
  });
}

async function runCopier(
  variant: string,
  clients: number,
  seconds: number,
  port: number,
  dir: string,
): Promise<CopierResult> {
  const { copy, allocations } = copierFor(variant);
  const files = Array.from({ length: FILE_COUNT }, (_, i) => path.join(dir, `f${i}.bin`));
  let measuring = false;
  let stop = false;
  let bytes = 0;
  let next = 0;
  const loop = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      while (!stop) {
        const file = await Deno.open(files[next++ % FILE_COUNT]);
        const n = await copy(file, conn);
        try {
          file.close();
        } catch { /* closed by the copy */ }
        if (measuring) bytes += n;
      }
    } finally {
      conn.close();
    }
  };
  const loops = Array.from({ length: clients }, loop);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // warm-up
  measuring = true;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  measuring = false;
  const rssRunningMiB = statusMiB("VmRSS");
  const externalRunningMiB = Deno.memoryUsage().external / MIB;
  stop = true;
  await Promise.all(loops);
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    variant,
    clients,
    bytes,
    seconds: wall,
    cpuSeconds: cpu,
    rssRunningMiB,
    externalRunningMiB,
    hwmMiB: statusMiB("VmHWM"),
    rssAfterMiB: statusMiB("VmRSS"),
    externalAfterMiB: Deno.memoryUsage().external / MIB,
    allocations: allocations(),
  };
}

// ---------------------------------------------------------------------------
// The orchestrator

async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.trim();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      variant: { type: "string" },
      variants: { type: "string" },
      clients: { type: "string" },
      seconds: { type: "string" },
      rounds: { type: "string" },
      port: { type: "string" },
      dir: { type: "string" },
      pool: { type: "string" },
    },
  });
  if (values.role === "sink") return await runSink();
  if (values.role === "copier") {
    const result = await runCopier(
      values.variant!,
      Number(values.clients),
      Number(values.seconds),
      Number(values.port),
      values.dir!,
    );
    console.log(JSON.stringify(result));
    Deno.exit(0);
  }

  if (values.pool) Deno.env.set("COPY_POOL_BOUND", values.pool);
  const clientCounts = (values.clients ?? "1,50,300").split(",").map(Number);
  const variants = values.variants?.split(",") ?? DEFAULT_VARIANTS;
  const seconds = Number(values.seconds ?? 4);
  const rounds = Number(values.rounds ?? 2);
  const dir = await Deno.makeTempDir({
    dir: values.dir ?? "/dev/shm",
    prefix: "exftp-copy-",
  });
  try {
    const block = crypto.getRandomValues(new Uint8Array(65536));
    for (let i = 0; i < FILE_COUNT; i++) {
      const file = await Deno.open(path.join(dir, `f${i}.bin`), { write: true, create: true });
      for (let written = 0; written < FILE_BYTES; written += block.length) {
        await file.write(block);
      }
      file.close();
    }
    const self = import.meta.filename!;
    const sink = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, "--role", "sink"],
      stdout: "piped",
    }).spawn();
    const port = Number((await readLine(sink.stdout)).split(" ")[1]);
    const results: CopierResult[] = [];
    console.log(
      `copy_paths: ${new Date().toISOString()}, Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, ${seconds} s per run, ${rounds} rounds`,
    );
    for (let round = 0; round < rounds; round++) {
      for (const clients of clientCounts) {
        // Alternate the order from round to round.
        const order = round % 2 === 0 ? variants : [...variants].reverse();
        for (const variant of order) {
          const output = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "--v8-flags=--expose-gc",
              self,
              "--role",
              "copier",
              "--variant",
              variant,
              "--clients",
              String(clients),
              "--seconds",
              String(seconds),
              "--port",
              String(port),
              "--dir",
              dir,
            ],
            stderr: "inherit",
          }).output();
          const result = JSON.parse(new TextDecoder().decode(output.stdout)) as CopierResult;
          results.push(result);
          console.error(
            `  round ${round + 1} ${clients} ${variant}: ` +
              `${(result.cpuSeconds / (result.bytes / 1024 / MIB)).toFixed(3)} s/GiB`,
          );
        }
      }
    }
    sink.kill();
    await sink.status;
    report(results, clientCounts, variants);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function report(results: CopierResult[], clientCounts: number[], variants: string[]): void {
  for (const clients of clientCounts) {
    console.log(`\n${clients} concurrent copies (medians)`);
    const rows = variants.map((variant) => {
      const mine = results.filter((r) => r.variant === variant && r.clients === clients);
      const m = (f: (r: CopierResult) => number) => median(mine.map(f));
      return {
        variant,
        "CPU s/GiB": m((r) => r.cpuSeconds / (r.bytes / 1024 / MIB)).toFixed(3),
        "MiB/s": m((r) => r.bytes / MIB / r.seconds).toFixed(0),
        "RSS run MiB": m((r) => r.rssRunningMiB).toFixed(1),
        "ext run MiB": m((r) => r.externalRunningMiB).toFixed(1),
        "HWM MiB": m((r) => r.hwmMiB).toFixed(1),
        "RSS after MiB": m((r) => r.rssAfterMiB).toFixed(1),
        "ext after MiB": m((r) => r.externalAfterMiB).toFixed(1),
        "buffers allocated": m((r) => r.allocations),
      };
    });
    console.table(rows);
  }
}

if (import.meta.main) await main();
