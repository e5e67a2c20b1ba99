/**
 * RSS right after start, module by module (issue 16): how much each part of
 * exftp adds to a bare `deno run` that imports `node:net`.
 *
 *   deno run --allow-all bench/startup_rss.ts [--runs N] [--repo DIR] [--wait-ms MS]
 *     [--deno-flags "--no-code-cache"] [--no-cli] [MODULE…]
 *
 * Each probe is its own `deno run` of a file that imports `node:net` and one
 * module of the repo (relative to `--repo`, default this checkout) and then
 * waits; `VmRSS` is read `--wait-ms` later (default 1500). The CLI probes start
 * `main.ts --root DIR --port 0` and `main.ts -c exftp.yaml --port 0` (the YAML
 * the concurrency benchmark writes), also with `--deno-flags` when given, and
 * read `VmRSS` the same time after the
 * "Accepting connections" line. Probes alternate, `--runs` rounds (default 3);
 * the median is printed, with the difference to the floor, for `VmRSS` and for
 * `RssAnon` alone: the file-backed part (the pages of the `deno` binary that
 * were touched) varies by ±3 MiB from run to run, the anonymous part by
 * ±0.3.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { procStatus } from "./throughput.ts";

const MIB = 1024 * 1024;
const HERE = path.join(import.meta.dirname!, "..");

const DEFAULT_MODULES = [
  "src/server.ts",
  "src/auth/registry.ts",
  "src/config/config.ts",
  "src/config/docs.ts",
  "src/config/hash_password.ts",
  "src/metrics.ts",
  "src/cluster/redis.ts",
  "src/webhooks/webhooks.ts",
  "src/proxy/read.ts",
  "src/checksums/compute.ts",
  "src/storage/file.ts",
  "npm:js-yaml@5.5.0",
  "main.ts",
];

interface Probe {
  name: string;
  /** Starts the process; resolves once it is ready to be measured. */
  start(): Promise<Deno.ChildProcess>;
}

async function waitFor(child: Deno.ChildProcess, text: string): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  const reader = child.stdout.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited before printing "${text}": ${seen}`);
    seen += decoder.decode(value, { stream: true });
    if (seen.includes(text)) break;
  }
  reader.releaseLock();
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
}

function spawn(args: string[], cwd: string, env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

function moduleProbe(work: string, repo: string, module: string | undefined): Probe {
  const name = module ?? "node:net (floor)";
  return {
    name,
    async start() {
      const file = path.join(work, `probe_${name.replace(/[^a-z0-9]+/gi, "_")}.ts`);
      const target = module === undefined
        ? ""
        : /^(npm|node):/.test(module)
        ? `import ${JSON.stringify(module)};\n`
        : `import ${JSON.stringify(pathToFileURL(path.join(repo, module)).href)};\n`;
      await Deno.writeTextFile(
        file,
        `import "node:net";\n${target}console.log("ready");\nsetTimeout(() => {}, 600_000);\n`,
      );
      const child = spawn(["run", "-A", "--config", path.join(repo, "deno.json"), file], repo);
      await waitFor(child, "ready");
      return child;
    },
  };
}

function cliProbe(name: string, repo: string, args: string[], denoFlags: string[]): Probe {
  return {
    name,
    async start() {
      const main = path.join(repo, "main.ts");
      const child = spawn(["run", "-A", ...denoFlags, main, ...args, "--port", "0"], repo, {
        MIN_PASSIVE_PORT: "0",
        MAX_PASSIVE_PORT: "0",
      });
      await waitFor(child, "Accepting connections");
      return child;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      repo: { type: "string", default: HERE },
      "wait-ms": { type: "string", default: "1500" },
      "no-cli": { type: "boolean" },
      "deno-flags": { type: "string", default: "" },
    },
    allowPositionals: true,
  });
  const repo = path.resolve(values.repo);
  const runs = Number(values.runs);
  const waitMs = Number(values["wait-ms"]);
  const work = await Deno.makeTempDir({ prefix: "exftp-startup-" });
  const root = path.join(work, "root");
  await Deno.mkdir(root);
  const config = path.join(work, "exftp.yaml");
  await Deno.writeTextFile(
    config,
    `max_sessions: 25000\nmax_sessions_per_ip: 25000\nstorage_config:\n  root: ${root}\n`,
  );
  const modules = positionals.length ? positionals : DEFAULT_MODULES;
  const probes: Probe[] = [
    moduleProbe(work, repo, undefined),
    ...modules.map((module) => moduleProbe(work, repo, module)),
  ];
  if (!values["no-cli"]) {
    const flags = values["deno-flags"].split(" ").filter(Boolean);
    probes.push(cliProbe("main.ts --root DIR", repo, ["--root", root], []));
    probes.push(cliProbe("main.ts -c exftp.yaml", repo, ["-c", config], []));
    if (flags.length) {
      probes.push(cliProbe(`${flags.join(" ")} --root DIR`, repo, ["--root", root], flags));
      probes.push(cliProbe(`${flags.join(" ")} -c exftp.yaml`, repo, ["-c", config], flags));
    }
  }
  const samples = new Map<string, number[]>(probes.map((probe) => [probe.name, []]));
  const anon = new Map<string, number[]>(probes.map((probe) => [probe.name, []]));
  try {
    for (let round = 0; round < runs; round++) {
      for (const probe of probes) {
        const child = await probe.start();
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        samples.get(probe.name)!.push(procStatus(child.pid, "VmRSS") ?? NaN);
        anon.get(probe.name)!.push(procStatus(child.pid, "RssAnon") ?? NaN);
        child.kill("SIGKILL");
        await child.status;
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const floor = median(samples.get(probes[0].name)!);
  const floorAnon = median(anon.get(probes[0].name)!);
  console.log(
    `RSS ${waitMs} ms after start, median of ${runs}, ${new Date().toISOString()}, repo ${repo}`,
  );
  console.log(
    `${"probe".padEnd(34)} ${"MiB".padStart(7)} ${"− floor".padStart(8)} ${
      "anon − floor".padStart(12)
    }  runs (MiB)`,
  );
  for (const [name, rss] of samples) {
    const value = median(rss);
    console.log(
      `${name.padEnd(34)} ${(value / MIB).toFixed(1).padStart(7)} ${
        ((value - floor) / MIB).toFixed(1).padStart(8)
      } ${((median(anon.get(name)!) - floorAnon) / MIB).toFixed(1).padStart(12)}  ${
        rss.map((r) => (r / MIB).toFixed(1)).join(" ")
      }`,
    );
  }
}
