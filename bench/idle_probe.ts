/**
 * Memory per idle logged-in session, in process: an `FtpServer` configured as
 * `bench/concurrency.ts` runs it (a folder, anonymous login), the benchmark's
 * own client (`concurrency_client.ts`, mode `idle`) holding N logged-in
 * sessions from another process, and this process's `Deno.memoryUsage()` and
 * VmRSS after two forced GCs, per session, against a baseline taken after a
 * warm-up. With `--snapshot DIR`, a heap snapshot is written with each count
 * (summarise it with `bench/heap_summary.ts`).
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/idle_probe.ts --counts 1000,10000 [--snapshot /tmp]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import * as path from "node:path";
import { buildOptions } from "../src/config/config.ts";
import { FtpServer } from "../src/server.ts";
import { silentLogger } from "../src/log.ts";

const CLIENT_TS = path.join(import.meta.dirname!, "concurrency_client.ts");

const { values } = parseArgs({
  args: Deno.args,
  options: { counts: { type: "string" }, snapshot: { type: "string" } },
});
const counts = (values.counts ?? "1000,10000").split(",").map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

function rss(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

async function settle(): Promise<
  { rss: number; heapUsed: number; heapTotal: number; external: number }
> {
  await new Promise((resolve) => setTimeout(resolve, Number(Deno.env.get("SETTLE_MS") ?? 1500)));
  if (Deno.env.get("SPACES")) {
    console.log(`before the forced GCs: rss ${(rss() / 1048576).toFixed(1)} MiB`);
  }
  gc!();
  gc!();
  const { heapUsed, heapTotal, external } = Deno.memoryUsage();
  return { rss: rss(), heapUsed, heapTotal, external };
}

const root = await Deno.makeTempDir({ prefix: "exftp-idle-probe-" });
const config = await buildOptions({
  max_sessions: 25000,
  max_sessions_per_ip: 25000,
  storage_config: { root },
});
const server = new FtpServer({
  ...config.options,
  hostname: "127.0.0.1",
  port: 0,
  logger: silentLogger,
});
const { port } = await server.listen();

/** Hold `count` sessions from a client process until `release()` is called. */
async function hold(count: number): Promise<{ release(): Promise<void> }> {
  const job = {
    mode: "idle",
    host: "127.0.0.1",
    port,
    connections: count,
    connectConcurrency: 200,
  };
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `ulimit -n "$(ulimit -Hn)" && exec "$@"`,
      "sh",
      Deno.execPath(),
      "run",
      "-A",
      CLIENT_TS,
      JSON.stringify(job),
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`client ended: ${text}`);
    text += chunk.value;
  }
  const ready = JSON.parse(text.slice(text.indexOf("{")));
  if (ready.errors) throw new Error(`client errors: ${JSON.stringify(ready)}`);
  return {
    async release() {
      await child.stdin.close();
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

const warm = await hold(50);
await warm.release();
await new Promise((resolve) => setTimeout(resolve, 1000));
const base = await settle();
const kib = (bytes: number) => (bytes / 1024).toFixed(2);
console.log(
  `baseline: rss ${kib(base.rss / 1024)} MiB, heap used ${kib(base.heapUsed / 1024)} MiB`,
);
const rows: Record<string, Record<string, string>> = {};
for (const count of counts) {
  const held = await hold(count);
  const m = await settle();
  rows[count] = {
    "RSS KiB/session": kib((m.rss - base.rss) / count),
    "heap used": kib((m.heapUsed - base.heapUsed) / count),
    "heap total": kib((m.heapTotal - base.heapTotal) / count),
    "ArrayBuffers": kib((m.external - base.external) / count),
  };
  if (Deno.env.get("SPACES")) {
    for (const space of getHeapSpaceStatistics()) {
      console.log(
        `${count} ${space.space_name.padEnd(24)} size ${
          kib(space.space_size / 1024).padStart(9)
        } MiB` +
          `  used ${kib(space.space_used_size / 1024).padStart(9)} MiB`,
      );
    }
  }
  if (values.snapshot) {
    const file = writeHeapSnapshot(path.join(values.snapshot, `idle-${count}.heapsnapshot`));
    console.log(`snapshot: ${file}`);
  }
  await held.release();
  await new Promise((resolve) => setTimeout(resolve, 1500));
}
console.table(rows);
await server.close();
await Deno.remove(root, { recursive: true });
