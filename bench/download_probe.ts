/**
 * In-process download probe: an `FtpServer` over `FileStorage` in this
 * process, N clients of `concurrency_client.ts` (other processes) downloading
 * for S seconds; prints the server's CPU seconds per GiB (this process's
 * utime + stime), MiB/s, and memory after three forced GCs: VmRSS, V8's heap
 * and `external`, and V8's heap spaces. Runs by itself and stops.
 *
 *   deno run -A --v8-flags=--expose-gc bench/download_probe.ts [--clients 300]
 *     [--seconds 6] [--file-mib 10] [--repo DIR]
 *
 * `--repo` loads the server from another checkout (a `git archive` of the
 * parent commit) for A/B runs. See README.md, "Downloads: CPU per GiB and
 * buffers (session 3)".
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import { getHeapSpaceStatistics } from "node:v8";
import type { ClientResult } from "./concurrency_client.ts";

const MIB = 1024 * 1024;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "300" },
    seconds: { type: "string", default: "6" },
    "file-mib": { type: "string", default: "10" },
    repo: { type: "string", default: path.join(import.meta.dirname!, "..") },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const fileMiB = Number(values["file-mib"]);
const repo = path.resolve(values.repo!);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");

const { FtpServer, FileStorage, PassthroughAuthenticator } = await import(
  path.join(repo, "mod.ts")
);

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMiB(): number {
  const match = Deno.readTextFileSync("/proc/self/status").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(match![1]) / 1024;
}

async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const root = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "exftp-probe-" });
const fileCount = fileMiB > 10 ? 1 : 8;
const files = Array.from({ length: fileCount }, (_, i) => `file${i}.bin`);
// Written from one small block: a large buffer could stay in this process's RSS.
const block = new Uint8Array(64 * 1024);
for (const name of files) {
  using file = await Deno.open(path.join(root, name), { write: true, create: true });
  for (let written = 0; written < fileMiB * MIB; written += block.length) await file.write(block);
}
const server = new FtpServer({
  port: 0,
  minPassivePort: 0,
  maxPassivePort: 0,
  maxSessions: 25_000,
  maxSessionsPerIp: 25_000,
  logger: () => {},
  authenticator: new PassthroughAuthenticator(),
  storage: new FileStorage({ root }),
});
try {
  const addr = await server.listen();
  await collect();
  const rssBefore = rssMiB();
  const processes = clients === 1 ? 1 : 2;
  const job = {
    mode: "download",
    host: "127.0.0.1",
    port: addr.port,
    connections: Math.ceil(clients / processes),
    durationMs: seconds * 1000,
    files,
    bytes: fileMiB * MIB,
  };
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const outputs = await Promise.all(
    Array.from({ length: processes }, (_, clientIndex) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          path.join(import.meta.dirname!, "concurrency_client.ts"),
          JSON.stringify({ ...job, clientIndex }),
        ],
        stdout: "piped",
      }).output()),
  );
  const cpu = cpuSeconds() - cpu0;
  const wall = (performance.now() - t0) / 1000;
  const results = outputs.map((output) =>
    JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").pop()!) as ClientResult
  );
  const gib = results.reduce((sum, r) => sum + r.bytes, 0) / 1024 / MIB;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await collect();
  const memory = Deno.memoryUsage();
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics()
      .filter((space) => space.space_size > 0)
      .map((space) => [space.space_name, +(space.space_size / MIB).toFixed(1)]),
  );
  console.log(JSON.stringify(
    {
      repo,
      clients,
      gib: +gib.toFixed(2),
      errors: results.reduce((sum, r) => sum + r.errors, 0),
      cpuSecondsPerGiB: +(cpu / gib).toFixed(3),
      mibPerSecond: Math.round(gib * 1024 / wall),
      rssMiB: { before: +rssBefore.toFixed(1), after: +rssMiB().toFixed(1) },
      heapTotalMiB: +(memory.heapTotal / MIB).toFixed(1),
      externalMiB: +(memory.external / MIB).toFixed(1),
      heapSpacesMiB: spaces,
    },
    null,
    2,
  ));
} finally {
  await server.close();
  await Deno.remove(root, { recursive: true });
}
