/**
 * `main.ts` with a memory readout, for bench/memory_after.ts: on SIGUSR2 it
 * prints one `MEMORY {json}` line to stderr — `Deno.memoryUsage()` as is,
 * then again after two forced GCs (needs `--v8-flags=--expose-gc`), and
 * `VmRSS`, `RssAnon`, `RssFile` and the malloc heap (`[heap]` in smaps);
 * then calls glibc's `malloc_trim(0)` (FFI) and reads `VmRSS` and the malloc
 * heap again: what malloc held free without giving it back. On SIGUSR1, a
 * `PEEK {json}` line: the same without forcing anything (no GC, no trim).
 *
 * @module
 */

import { runCli } from "../main.ts";

function statusKiB(text: string, field: string): number {
  return Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
}

/** The process's memory, in bytes, split the ways bench/README.md reports it. */
export function memoryReadout(collect = true): Record<string, number> {
  const before = Deno.memoryUsage();
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined;
  gc?.();
  gc?.();
  const after = Deno.memoryUsage();
  const status = Deno.readTextFileSync("/proc/self/status");
  let brkHeap = 0;
  let anonMaps = 0;
  let current = "";
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      current = head[1];
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (!rss) continue;
    if (current === "[heap]") brkHeap += Number(rss[1]) * 1024;
    else if (current === "") anonMaps += Number(rss[1]) * 1024;
  }
  return {
    rss: statusKiB(status, "VmRSS") * 1024,
    rssAnon: statusKiB(status, "RssAnon") * 1024,
    rssFile: statusKiB(status, "RssFile") * 1024,
    brkHeap,
    anonMaps,
    heapTotal: before.heapTotal,
    heapUsed: before.heapUsed,
    external: before.external,
    heapTotalAfterGc: after.heapTotal,
    heapUsedAfterGc: after.heapUsed,
    externalAfterGc: after.external,
    rssAfterGc: after.rss,
  };
}

if (import.meta.main) {
  Deno.addSignalListener("SIGUSR1", () => {
    console.error(`PEEK ${JSON.stringify(memoryReadout(false))}`);
  });
  Deno.addSignalListener("SIGUSR2", () => {
    const readout = memoryReadout();
    try {
      const libc = Deno.dlopen("libc.so.6", {
        malloc_trim: { parameters: ["usize"], result: "i32" },
      });
      libc.symbols.malloc_trim(0n);
      libc.close();
      const trimmed = memoryReadout();
      readout.rssAfterTrim = trimmed.rss;
      readout.brkHeapAfterTrim = trimmed.brkHeap;
      readout.anonMapsAfterTrim = trimmed.anonMaps;
    } catch { /* no FFI here */ }
    console.error(`MEMORY ${JSON.stringify(readout)}`);
  });
  runCli();
}
