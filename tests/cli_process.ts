/** Start the exftp CLI (or a bundle of it) as a process and wait until it listens. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;
// Text (`… on 127.0.0.1:4040`, `… on [::1]:4040`) or a JSON line with the same message.
const LISTENING = /Accepting connections on (?:\[[^\]\s]*\]|[^\s:"]+):(\d+)/;

/** A running CLI process. */
export interface CliProcess {
  child: Deno.ChildProcess;
  /** The control port it printed. */
  port: number;
  /** Standard output up to the "Accepting connections" line (and `until`, if given). */
  seen: string;
  /** Everything written to standard output so far. */
  stdout(): string;
  /** Everything written to standard error so far. */
  stderr(): string;
  /** Wait (up to `timeoutMs`) until stdout or stderr matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then the exit code and everything it wrote to stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Options of {@linkcode startCli}. */
export interface StartCliOptions {
  /** Deno permission flags. @default {["-A"]} */
  permissions?: string[];
  /** Environment variables. */
  env?: Record<string, string>;
  /** Run this script instead of main.ts (e.g. a bundle). */
  script?: string;
  /** Working folder of the process. */
  cwd?: string;
  /** Also wait for output matching this. */
  until?: RegExp;
}

/** Run `deno run PERMISSIONS main.ts ARGS` and wait for "Accepting connections on …". */
export async function startCli(args: string[], options: StartCliOptions = {}): Promise<CliProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), options.script ?? MAIN, ...args],
    env: options.env,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let errors = "";
  const stderr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errors += chunk;
    return errors;
  })();
  let seen = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (!LISTENING.test(seen) || (options.until && !options.until.test(seen))) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`CLI exited before listening: ${seen}\n${await stderr}`);
      seen += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  let output = seen;
  const drained = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
  })();
  return {
    child,
    port: Number(LISTENING.exec(seen)![1]),
    seen,
    stdout: () => output,
    stderr: () => errors,
    async waitForOutput(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output) && !pattern.test(errors)) {
        if (Date.now() > deadline) {
          throw new Error(`Timed out waiting for ${pattern}:\n${output}\n${errors}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const { code } = await child.status;
      await drained;
      return { code, stderr: await stderr };
    },
  };
}
