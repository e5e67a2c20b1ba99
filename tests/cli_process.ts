/** Start the exftp CLI (or a bundle of it) as a process and wait until it listens. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const LISTENING = /Accepting connections on [^\n]*:(\d+)\n/;

/** A running CLI process. */
export interface CliProcess {
  child: Deno.ChildProcess;
  /** The control port it printed. */
  port: number;
  /** Standard output up to the "Accepting connections" line (and `until`, if given). */
  seen: string;
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
  /** Also wait for output matching this. */
  until?: RegExp;
}

/** Run `deno run PERMISSIONS main.ts ARGS` and wait for "Accepting connections on …". */
export async function startCli(args: string[], options: StartCliOptions = {}): Promise<CliProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), options.script ?? MAIN, ...args],
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
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
  const drained = (async () => {
    while (!(await reader.read()).done) {
      // keep stdout flowing
    }
  })();
  return {
    child,
    port: Number(LISTENING.exec(seen)![1]),
    seen,
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
