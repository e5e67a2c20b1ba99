/**
 * S3 upload benchmark: a large file uploaded through exftp (s3 connector) into s3rver, against
 * the same bytes uploaded straight to s3rver with the SDK (`@aws-sdk/lib-storage` `Upload`).
 * Reports throughput, the ratio, and exftp's peak RSS growth while the upload streams.
 *
 *   deno run --allow-all bench/s3_upload.ts [--size-mib N] [--runs N] [--part-size-mib N]
 *                                           [--queue-size N] [--dir DIR]
 *
 * exftp runs as its own process (`deno run -A main.ts --config …`) so that its memory is
 * measured alone; s3rver runs on Node (see tests/s3rver.ts, which installs it on demand).
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as path from "node:path";
import { DeleteObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { RawFtpClient } from "../src/testing/raw_client.ts";
import { S3RVER_CREDENTIALS, startS3rver } from "../tests/s3rver.ts";

const USAGE = `Usage: deno run --allow-all bench/s3_upload.ts [flags]

  --size-mib N        size of the uploaded file in MiB (default 1024)
  --runs N            measured rounds (default 1); medians are reported
  --part-size-mib N   multipart part size, for exftp and the SDK alike (default 5)
  --queue-size N      parts in flight, for exftp and the SDK alike (default 4)
  --dir DIR           where s3rver keeps its data (default: the system temp folder)
  --help              show this help`;

const MIB = 1024 * 1024;
const MAIN_TS = path.join(import.meta.dirname!, "..", "main.ts");
const BLOCK = MIB;

interface Settings {
  sizeMiB: number;
  runs: number;
  partSizeMiB: number;
  queueSize: number;
  dir?: string;
}

function parseSettings(args: string[]): Settings | undefined {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string" },
      runs: { type: "string" },
      "part-size-mib": { type: "string" },
      "queue-size": { type: "string" },
      dir: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
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
    runs: positive("runs", values.runs, 1),
    partSizeMiB: Math.max(5, positive("part-size-mib", values["part-size-mib"], 5)),
    queueSize: positive("queue-size", values["queue-size"], 4),
    dir: values.dir,
  };
}

/** The test data: 1 MiB blocks of random bytes, each stamped with its index. */
function makeBlocks(): Uint8Array {
  const block = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  return block;
}

function stamped(base: Uint8Array, index: number): Uint8Array {
  const copy = base.slice();
  new DataView(copy.buffer).setUint32(0, index);
  return copy;
}

function dataStream(base: Uint8Array, blocks: number): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      if (index >= blocks) return controller.close();
      controller.enqueue(stamped(base, index++));
    },
  });
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)![1]);
  return { rss: kib("VmRSS") * 1024, hwm: kib("VmHWM") * 1024 };
}

/** Reset VmHWM (Linux: write 5 to clear_refs); false when not allowed. */
function resetPeak(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function startExftp(configPath: string): Promise<{
  child: Deno.ChildProcess;
  port: number;
  log(): string;
  stop(): Promise<void>;
}> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, "--config", configPath, "--port", "0"],
    env: { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped", // its log: shown only when something goes wrong
  }).spawn();
  let log = "";
  const logged = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      log = (log + text).slice(-20_000);
    }
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  let port: number | undefined;
  while (port === undefined) {
    const { done, value } = await reader.read();
    if (done) {
      await logged;
      throw new Error(`exftp did not start: ${output}${log}`);
    }
    output += value;
    const match = /Accepting connections on [\d.]+:(\d+)/.exec(output);
    if (match) port = Number(match[1]);
  }
  const drained = (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* stopped */ }
  })();
  return {
    child,
    port,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
      await drained;
      await logged;
    },
  };
}

/** Upload `blocks` MiB through FTP; resolves with seconds and peak RSS seen by sampling. */
async function ftpUpload(
  port: number,
  pid: number,
  name: string,
  base: Uint8Array,
  blocks: number,
): Promise<{ seconds: number; sampledPeak: number }> {
  using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port });
  await client.login("bench", "bench");
  await client.send("TYPE I");
  const data = await client.passive();
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, procStatus(pid).rss);
  }, 25);
  const started = performance.now();
  try {
    const opening = await client.send(`STOR ${name}`);
    if (opening.code !== 150) throw new Error(`STOR got ${opening.lines.join(" | ")}`);
    for (let i = 0; i < blocks; i++) {
      const block = stamped(base, i);
      let offset = 0;
      while (offset < block.length) offset += await data.write(block.subarray(offset));
    }
    data.close();
    const final = await client.read();
    if (final.code !== 226) throw new Error(`STOR ended with ${final.lines.join(" | ")}`);
    return { seconds: (performance.now() - started) / 1000, sampledPeak };
  } finally {
    clearInterval(sampler);
  }
}

async function main(args: string[]): Promise<number> {
  const settings = parseSettings(args);
  if (!settings) return 0;
  const { sizeMiB, runs, partSizeMiB, queueSize } = settings;
  const size = sizeMiB * MIB;
  const base = makeBlocks();
  const temp = await Deno.makeTempDir({ prefix: "exftp-s3-bench-" });
  if (settings.dir) Deno.env.set("TMPDIR", settings.dir);
  await using s3 = await startS3rver("bench");
  const configPath = path.join(temp, "s3.yaml");
  await Deno.writeTextFile(
    configPath,
    [
      "ftp_addr: 127.0.0.1",
      "storage_connector: s3",
      "storage_config:",
      `  bucket: ${s3.bucket}`,
      `  endpoint: ${s3.endpoint}`,
      "  force_path_style: true",
      `  access_key_id: ${S3RVER_CREDENTIALS.accessKeyId}`,
      `  secret_access_key: ${S3RVER_CREDENTIALS.secretAccessKey}`,
      `  part_size_mib: ${partSizeMiB}`,
      `  queue_size: ${queueSize}`,
      "",
    ].join("\n"),
  );
  const sdk = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const exftp = await startExftp(configPath);
  const pid = exftp.child.pid;
  const objectSize = async (key: string) =>
    (await sdk.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))).ContentLength;
  const drop = (key: string) => sdk.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
  try {
    const started = procStatus(pid);
    // Warm up: SDK loaded, a single PUT and a multipart upload done once.
    await ftpUpload(exftp.port, pid, "warmup-small.bin", base, 1);
    await ftpUpload(exftp.port, pid, "warmup.bin", base, partSizeMiB * 2 + 1);
    await drop("warmup-small.bin");
    await drop("warmup.bin");
    const ftpRates: number[] = [];
    const sdkRates: number[] = [];
    const ratios: number[] = [];
    const growths: number[] = [];
    const sdkGrowths: number[] = [];
    let peakKind = "VmHWM";
    for (let run = 0; run < runs; run++) {
      const baseline = procStatus(pid).rss;
      if (!resetPeak(pid)) peakKind = "sampled VmRSS";
      const ftp = await ftpUpload(exftp.port, pid, "through-ftp.bin", base, sizeMiB);
      const status = procStatus(pid);
      const peak = peakKind === "VmHWM" ? Math.max(status.hwm, ftp.sampledPeak) : ftp.sampledPeak;
      if ((await objectSize("through-ftp.bin")) !== size) throw new Error("wrong size via FTP");
      await drop("through-ftp.bin");

      const sdkBaseline = Deno.memoryUsage().rss;
      let sdkPeak = sdkBaseline;
      const sampler = setInterval(() => sdkPeak = Math.max(sdkPeak, Deno.memoryUsage().rss), 25);
      const sdkStarted = performance.now();
      await new Upload({
        client: sdk,
        params: { Bucket: s3.bucket, Key: "through-sdk.bin", Body: dataStream(base, sizeMiB) },
        partSize: partSizeMiB * MIB,
        queueSize,
      }).done();
      const sdkSeconds = (performance.now() - sdkStarted) / 1000;
      clearInterval(sampler);
      sdkGrowths.push(sdkPeak - sdkBaseline);
      if ((await objectSize("through-sdk.bin")) !== size) throw new Error("wrong size via SDK");
      await drop("through-sdk.bin");

      ftpRates.push(sizeMiB / ftp.seconds);
      sdkRates.push(sizeMiB / sdkSeconds);
      ratios.push(sdkSeconds / ftp.seconds);
      growths.push(peak - baseline);
      console.log(
        `run ${run + 1}: exftp ${(sizeMiB / ftp.seconds).toFixed(1)} MiB/s, SDK ${
          (sizeMiB / sdkSeconds).toFixed(1)
        } MiB/s, exftp peak RSS growth ${((peak - baseline) / MIB).toFixed(1)} MiB, SDK ${
          (sdkGrowths.at(-1)! / MIB).toFixed(1)
        } MiB`,
      );
    }
    const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1];
    console.log(`
S3 upload of ${sizeMiB} MiB into s3rver (${runs} run${
      runs > 1 ? "s" : ""
    }, part ${partSizeMiB} MiB, ${queueSize} in flight)
machine: ${navigator.hardwareConcurrency} CPUs (${cpu ?? "unknown"}), deno ${Deno.version.deno}
exftp RSS after start: ${(started.rss / MIB).toFixed(1)} MiB

                         MiB/s   (median)
  exftp (FTP → S3)      ${median(ftpRates).toFixed(1).padStart(7)}
  SDK Upload directly   ${median(sdkRates).toFixed(1).padStart(7)}
  ratio exftp / SDK     ${median(ratios).toFixed(2).padStart(7)}

exftp peak RSS growth during the upload (${peakKind}): ${
      (median(growths) / MIB).toFixed(1)
    } MiB (goal < 64 MiB)
SDK Upload's peak RSS growth in this process, for comparison (sampled VmRSS): ${
      (median(sdkGrowths) / MIB).toFixed(1)
    } MiB`);
    return 0;
  } catch (error) {
    console.error(`exftp's log, last part:\n${exftp.log()}`);
    throw error;
  } finally {
    await exftp.stop();
    sdk.destroy();
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`s3_upload: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
