/**
 * A real S3-compatible server for the tests: s3rver, installed on demand into
 * a cache folder outside the repository and run with Node on a free port over
 * a temporary folder.
 *
 * `deno run -A tests/s3rver.ts` installs it (what `.ci/run` does up front).
 *
 * @module
 */

import { S3Client } from "@aws-sdk/client-s3";
import { S3Storage, type S3StorageOptions } from "../src/storage/s3/mod.ts";

const S3RVER_VERSION = "3.7.1";
const START_TIMEOUT_MS = 20_000;

/** Fixed credentials of s3rver. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** Where s3rver is installed: `$EXFTP_TEST_CACHE/s3rver` or `~/.cache/exftp-test/s3rver`. */
export function s3rverFolder(): string {
  const cache = Deno.env.get("EXFTP_TEST_CACHE") ??
    `${Deno.env.get("HOME") ?? Deno.cwd()}/.cache/exftp-test`;
  return `${cache}/s3rver`;
}

function s3rverBin(folder = s3rverFolder()): string {
  return `${folder}/node_modules/.bin/s3rver`;
}

function commandExists(name: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .outputSync().success;
}

/**
 * Whether `node` is real Node. Deno puts a `node` of its own (Deno in Node
 * compatibility mode) first on its subprocesses' PATH, and s3rver misbehaves
 * under it (wrong replies, failed listings).
 */
function realNodeExists(): boolean {
  try {
    const probe = new Deno.Command("node", {
      args: ["-e", "process.stdout.write(process.versions.deno ? 'deno' : 'node')"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return probe.success && new TextDecoder().decode(probe.stdout) === "node";
  } catch {
    return false;
  }
}

function installed(): boolean {
  try {
    Deno.statSync(s3rverBin());
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the S3 tests cannot run here, or undefined when they can: Node is
 * needed, and npm too unless s3rver is installed already. Under CI=true a
 * missing tool is an error (CI installs them), never a silent skip.
 */
export function s3rverUnavailable(): string | undefined {
  let reason: string | undefined;
  if (!realNodeExists()) reason = "Node is not installed (s3rver runs on Node, not on Deno)";
  else if (!installed() && !commandExists("npm")) reason = "npm is not installed to fetch s3rver";
  if (reason && Deno.env.get("CI") === "true") {
    throw new Error(`${reason}; required under CI=true (.ci/run installs it)`);
  }
  if (reason) console.warn(`ignored: S3 tests: ${reason}`);
  return reason;
}

/** Install s3rver into its cache folder unless it is there; returns the folder. */
export async function ensureS3rver(): Promise<string> {
  const folder = s3rverFolder();
  if (installed()) return folder;
  // Install beside it and rename into place, so parallel test files never see half an install.
  const parent = folder.slice(0, folder.lastIndexOf("/"));
  await Deno.mkdir(parent, { recursive: true });
  const temp = await Deno.makeTempDir({ dir: parent, prefix: "s3rver.installing-" });
  try {
    await Deno.writeTextFile(
      `${temp}/package.json`,
      JSON.stringify({ private: true, description: "s3rver for exftp's tests" }),
    );
    const npm = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--loglevel=error", `s3rver@${S3RVER_VERSION}`],
      cwd: temp,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!npm.success) {
      throw new Error(
        `npm install s3rver@${S3RVER_VERSION} failed:\n${new TextDecoder().decode(npm.stderr)}`,
      );
    }
    try {
      await Deno.rename(temp, folder);
    } catch (error) {
      if (!installed()) throw error; // someone else finished first otherwise
    }
  } finally {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
  }
  return folder;
}

/** A running s3rver with one bucket; stopped and its data removed on dispose. */
export interface S3rver extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** The bucket created at start. */
  bucket: string;
  /** The data folder. */
  dataDir: string;
  /** Options for an S3Storage on this server (add a prefix per test). */
  options(extra?: Partial<S3StorageOptions>): S3StorageOptions;
  /** A storage under a fresh unique prefix, so tests never see each other's files. */
  freshStorage(extra?: Partial<S3StorageOptions>): S3Storage;
}

/** Start s3rver on a free port with a fresh data folder and wait until it answers. */
export async function startS3rver(bucket = "exftp-test"): Promise<S3rver> {
  const folder = await ensureS3rver();
  const dataDir = await Deno.makeTempDir({ prefix: "exftp-s3rver-" });
  const child = new Deno.Command("node", {
    args: [
      "--openssl-legacy-provider",
      s3rverBin(folder),
      "-d",
      dataDir,
      "-a",
      "127.0.0.1",
      "-p",
      "0",
      "--silent",
      "--configure-bucket",
      bucket,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  let port: number | undefined;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    await lines.cancel().catch(() => {});
    await stderr.catch(() => {});
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  const timer = setTimeout(() => lines.cancel().catch(() => {}), START_TIMEOUT_MS);
  try {
    while (port === undefined) {
      const { done, value } = await lines.read();
      if (done) break;
      output += value;
      const match = /listening on [\d.]+:(\d+)/.exec(output);
      if (match) port = Number(match[1]);
    }
  } finally {
    clearTimeout(timer);
  }
  if (port === undefined) {
    await stop();
    throw new Error(`s3rver did not start: ${output}${await stderr}`);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drained = (async () => {
    try {
      while (!(await lines.read()).done) {
        // discard
      }
    } catch {
      // cancelled on stop
    }
  })();
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(endpoint);
  } catch (error) {
    await stop();
    throw error;
  }
  const options = (extra: Partial<S3StorageOptions> = {}): S3StorageOptions => ({
    bucket,
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    ...extra,
  });
  return {
    endpoint,
    bucket,
    dataDir,
    options,
    freshStorage: (extra = {}) =>
      new S3Storage(options({ prefix: `t-${crypto.randomUUID()}`, ...extra })),
    async [Symbol.asyncDispose]() {
      await stop();
      await drained;
    },
  };
}

async function waitUntilAnswering(endpoint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${endpoint}/`);
      await response.body?.cancel();
      if (response.status < 500) return;
      last = new Error(`HTTP ${response.status}`);
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`s3rver at ${endpoint} did not answer: ${String(last)}`);
}

if (import.meta.main) {
  console.log(`s3rver ${S3RVER_VERSION} is in ${await ensureS3rver()}`);
}

/**
 * An SDK client for a running s3rver: path-style, its fixed credentials, and
 * checksums only when required (the SDK's default corrupts streamed uploads
 * on s3rver; see PLATFORM.md). The caller destroys it.
 */
export function s3rverClient(s3: S3rver): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
