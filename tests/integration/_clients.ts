/**
 * Helpers for the real-client tests: spawn a client binary with a deadline,
 * and small fixtures shared by several client files.
 */

import { dirname, join } from "node:path";
import type { TestServer } from "../helpers.ts";

/** What a finished client process left behind. */
export interface RunResult {
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** Kill the process (SIGKILL) and fail after this many ms. @default {30000} */
  timeoutMs?: number;
  /** Text written to the process's standard input (then closed). */
  stdin?: string;
  /** Working folder of the process. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

const decoder = new TextDecoder();

/**
 * Run a command to completion and return its exit code and output. The
 * process is killed when `timeoutMs` passes, and the call then rejects, so a
 * hung client can never hang the test run.
 */
export async function run(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { LC_ALL: "C.UTF-8", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const output = await child.output();
    const result = {
      code: output.code,
      success: output.success,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    if (timedOut) {
      throw new Error(
        `${command} did not finish within ${timeoutMs} ms\n` +
          `args: ${JSON.stringify(args)}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Like {@linkcode run}, but rejects with the full output when the exit code is not 0. */
export async function runOk(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (!result.success) {
    throw new Error(
      `${command} exited with ${result.code}\nargs: ${JSON.stringify(args)}\n` +
        `stdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result;
}

/** `ftp://127.0.0.1:PORT` of a test server (with a path appended if given). */
export function ftpUrl(ts: TestServer, path = "/"): string {
  return `ftp://127.0.0.1:${ts.addr.port}${path}`;
}

/** Write bytes to a path below the server root, making the parent folders. */
export async function putFile(ts: TestServer, path: string, data: Uint8Array | string) {
  const full = join(ts.root, path);
  await Deno.mkdir(dirname(full), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(full, data);
  else await Deno.writeFile(full, data);
}

/** Read a file below the server root. */
export function readRootFile(ts: TestServer, path: string): Promise<Uint8Array> {
  return Deno.readFile(join(ts.root, path));
}

/** Whether a path exists (without following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * A file outside the server root (in the root's parent folder) that the
 * traversal tests try to reach. Removed on dispose.
 */
export async function outsideFile(
  ts: TestServer,
  content = "outside secret\n",
): Promise<{ path: string; name: string; content: string } & AsyncDisposable> {
  const path = await Deno.makeTempFile({ dir: dirname(ts.root), prefix: "exftp-outside-" });
  await Deno.writeTextFile(path, content);
  return {
    path,
    name: path.slice(dirname(path).length + 1),
    content,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path).catch(() => {});
    },
  };
}

/**
 * Plant the escape routes the traversal tests try: `escape` → `/etc`, `leak.txt` →
 * the outside file, and one ordinary file inside the root.
 */
export async function plantEscapes(
  ts: TestServer,
  outside: { path: string },
  inside: { name: string; content: string } = { name: "ok.txt", content: "ok\n" },
): Promise<void> {
  await Deno.symlink("/etc", join(ts.root, "escape"));
  await Deno.symlink(outside.path, join(ts.root, "leak.txt"));
  await putFile(ts, inside.name, inside.content);
}

/** A fresh temporary folder for a client's local files, removed on dispose. */
export async function tempDir(prefix = "exftp-client-"): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Lines of a text, without CR and without the trailing empty line. */
export function lines(text: string): string[] {
  return text.split("\n").map((line) => line.replace(/\r$/, "")).filter((line) => line !== "");
}

/** The names of `ls -l` style lines (the ninth column onwards). */
export function longListingNames(text: string): string[] {
  return lines(text).map((line) => {
    const match = /^[-dl][-rwxsStT]{9}\s+\d+\s+\S+\s+\S+\s+\d+\s+\w{3}\s+\d+\s+[\d:]+\s(.*)$/
      .exec(line);
    if (!match) throw new Error(`Not an ls -l line: ${JSON.stringify(line)}`);
    return match[1];
  });
}
