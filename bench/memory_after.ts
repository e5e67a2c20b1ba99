/**
 * What exftp's RSS is made of after the transfer workloads (issue 16), and how
 * it changes with malloc settings, V8 flags and idle time.
 *
 *   deno run --allow-all bench/memory_after.ts [--seconds 8] [--clients 100]
 *     [--env MALLOC_ARENA_MAX=2,…] [--deno-flags "--v8-flags=…"] [--workloads download,upload,list]
 *
 * Starts `bench/memory_probe_main.ts` (main.ts with a readout on SIGUSR2) on a
 * folder like the concurrency benchmark's (8 files of 10 MiB, `list/` with
 * 1,000 entries, `up/`), with the benchmark's YAML config, runs the workloads
 * one after the other with `bench/concurrency_client.ts` (two processes), then
 * reads `VmRSS` 3, 10 and 30 s after the last one (with V8's heap, external
 * memory and the malloc heap as they are then), then the readout (V8 heap
 * and external memory before and after forced GCs, the malloc heap). Prints
 * one JSON line with everything, plus throughput and server CPU per workload.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import type { ClientJob, ClientResult } from "./concurrency_client.ts";
import { cpuSeconds, procStatus } from "./throughput.ts";
import { withNofile } from "./concurrency.ts";

const MIB = 1024 * 1024;
const HERE = import.meta.dirname!;
const CLIENT_TS = path.join(HERE, "concurrency_client.ts");
const FILE_BYTES = 10 * MIB;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runClient(job: ClientJob): Promise<ClientResult> {
  const [command, args] = withNofile(Deno.execPath(), [
    "run",
    "-A",
    CLIENT_TS,
    JSON.stringify(job),
  ]);
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success || !text) {
    throw new Error(`client failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as ClientResult;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "8" },
      clients: { type: "string", default: "100" },
      env: { type: "string", default: "" },
      "deno-flags": { type: "string", default: "" },
      workloads: { type: "string", default: "download,upload,list" },
      repo: { type: "string", default: path.join(HERE, "..") },
    },
  });
  const seconds = Number(values.seconds);
  const clients = Number(values.clients);
  const env: Record<string, string> = { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" };
  for (const pair of values.env.split(",").filter(Boolean)) {
    const [key, value] = pair.split("=");
    env[key] = value;
  }
  const work = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "exftp-memory-" });
  const root = path.join(work, "root");
  const files: string[] = [];
  await Deno.mkdir(path.join(root, "list"), { recursive: true });
  await Deno.mkdir(path.join(root, "up"));
  const data = new Uint8Array(FILE_BYTES);
  for (let offset = 0; offset < data.length; offset += 65536) {
    crypto.getRandomValues(data.subarray(offset, offset + 65536));
  }
  for (let i = 0; i < 8; i++) {
    files.push(`file${i}.bin`);
    await Deno.writeFile(path.join(root, `file${i}.bin`), data);
  }
  for (let i = 0; i < 1000; i++) {
    await Deno.writeTextFile(path.join(root, "list", `entry-${i}.txt`), `${i}\n`);
  }
  const config = path.join(work, "exftp.yaml");
  await Deno.writeTextFile(
    config,
    `max_sessions: 25000\nmax_sessions_per_ip: 25000\nstorage_config:\n  root: ${root}\n`,
  );
  const probe = path.join(path.resolve(values.repo), "bench", "memory_probe_main.ts");
  const denoFlags = values["deno-flags"].split(" ").filter(Boolean);
  const [command, args] = withNofile(Deno.execPath(), [
    "run",
    "-A",
    "--v8-flags=--expose-gc",
    ...denoFlags,
    probe,
    "-c",
    config,
    "--port",
    "0",
  ]);
  const child = new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let stderr = "";
  const drain = async (stream: ReadableStream<Uint8Array>, into: (text: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) into(chunk);
  };
  const drained = Promise.all([
    drain(child.stdout, (text) => output = (output + text).slice(-65536)),
    drain(child.stderr, (text) => stderr += text),
  ]);
  const result: Record<string, unknown> = { env: values.env, denoFlags: values["deno-flags"] };
  try {
    let port = 0;
    for (const deadline = Date.now() + 20_000; !port;) {
      port = Number(output.match(/Accepting connections on [\d.]+:(\d+)/)?.[1] ?? 0);
      if (Date.now() > deadline) throw new Error(`exftp did not start: ${output}${stderr}`);
      await sleep(20);
    }
    await sleep(1500);
    result.rssAfterStartMiB = (procStatus(child.pid, "VmRSS") ?? NaN) / MIB;
    for (const mode of values.workloads.split(",") as ClientJob["mode"][]) {
      const job: ClientJob = {
        mode,
        host: "127.0.0.1",
        port,
        connections: clients / 2,
        durationMs: seconds * 1000,
        files,
        bytes: FILE_BYTES,
        uploadPrefix: "up/c",
        listPath: "list",
        minLines: 1000,
      };
      const cpuBefore = cpuSeconds(child.pid) ?? NaN;
      const runs = await Promise.all([0, 1].map((i) => runClient({ ...job, clientIndex: i })));
      const cpu = (cpuSeconds(child.pid) ?? NaN) - cpuBefore;
      const bytes = runs.reduce((sum, r) => sum + r.bytes, 0);
      const ops = runs.reduce((sum, r) => sum + r.ops, 0);
      const wall = Math.max(...runs.map((r) => r.wallSeconds));
      result[mode] = {
        MiBps: Math.round(bytes / MIB / wall),
        opsPerSecond: Math.round(ops / wall),
        errors: runs.reduce((sum, r) => sum + r.errors, 0),
        cpuSecondsPerGiB: mode === "list" ? undefined : +(cpu / (bytes / 1024 / MIB)).toFixed(2),
        serverCpuPercent: Math.round((cpu / wall) * 100),
        rssMiB: +((procStatus(child.pid, "VmRSS") ?? NaN) / MIB).toFixed(1),
      };
    }
    let waited = 0;
    for (const at of [3, 10, 30]) {
      await sleep((at - waited) * 1000);
      waited = at;
      result[`rssAfter${at}sMiB`] = +((procStatus(child.pid, "VmRSS") ?? NaN) / MIB).toFixed(1);
      const seen = stderr.length;
      child.kill("SIGUSR1"); // a readout that forces nothing
      for (const deadline = Date.now() + 5000; !stderr.slice(seen).includes("PEEK {");) {
        if (Date.now() > deadline) throw new Error("no memory peek");
        await sleep(5);
      }
      await sleep(20);
      const peek = JSON.parse(stderr.slice(seen).match(/PEEK (\{.*\})/)![1]);
      result[`peekAfter${at}sMiB`] = Object.fromEntries(
        ["heapTotal", "external", "brkHeap", "anonMaps", "rssFile"].map((key) => [
          key,
          +(peek[key] / MIB).toFixed(1),
        ]),
      );
    }
    const seen = stderr.length;
    child.kill("SIGUSR2");
    for (const deadline = Date.now() + 5000; !stderr.slice(seen).includes("MEMORY {");) {
      if (Date.now() > deadline) throw new Error("no memory readout");
      await sleep(20);
    }
    await sleep(100);
    const line = stderr.slice(seen).match(/MEMORY (\{.*\})/)![1];
    const readout = JSON.parse(line) as Record<string, number>;
    result.readoutMiB = Object.fromEntries(
      Object.entries(readout).map(([key, value]) => [key, +(value / MIB).toFixed(1)]),
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await drained.catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
  console.log(JSON.stringify(result));
}
