/**
 * The exftp command line: `deno run --allow-net --allow-read=DIR --allow-write=DIR main.ts`.
 *
 * Configuration comes from, in rising precedence: defaults, a YAML file
 * (`--config`), environment variables, and flags.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { VERSION } from "./src/version.ts";
import {
  buildOptions,
  type CliConfig,
  ConfigError,
  configFromEnv,
  flagOptions,
  permittedEnv,
  type RawConfig,
  readConfigFile,
  readPemFile,
  withFlags,
} from "./src/config/config.ts";
import { FOLDER_PERMISSIONS, invocationHint, usageLines } from "./src/config/invocation.ts";
import type { MemoryStorage } from "./src/storage/memory.ts";
import { FtpServer, type ListenerOption } from "./src/server.ts";
import type { LogLevel } from "./src/log.ts";
import * as path from "node:path";

/** A host as Deno's `--allow-net` spells it: IPv6 addresses in brackets. */
export function netPermissionHost(hostname: string): string {
  return hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
}

/** Whether a listen address means "every address" (0.0.0.0, ::). */
function isWildcard(hostname: string): boolean {
  return /^(0\.0\.0\.0|::|\[::\]|0:0:0:0:0:0:0:0)$/.test(hostname);
}

/** `host:port`, with an IPv6 host in brackets. */
function hostPort(hostname: string, port: number): string {
  return `${netPermissionHost(hostname)}:${port}`;
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false; // a descriptor Deno can't parse is not a permission we hold
  }
}

/**
 * Which Deno permissions the configuration needs that are not granted, as
 * flags. The served folder counts under its real path too: Deno checks the
 * path a symlink leads to, so a symlinked root needs both.
 */
async function missingPermissions(config: CliConfig): Promise<string[]> {
  const missing: string[] = [];
  const hostname = config.options.hostname ?? "127.0.0.1";
  if (isWildcard(hostname)) {
    // Passive data listeners bind the address each client reached, which a
    // wildcard permission doesn't cover: every address is needed.
    if (!granted({ name: "net" })) missing.push("--allow-net");
  } else {
    const host = netPermissionHost(hostname);
    if (!granted({ name: "net", host })) missing.push(`--allow-net=${host}`);
  }
  if (config.root) {
    const paths = [config.root];
    if (granted({ name: "read", path: config.root })) {
      const real = await Deno.realPath(config.root).catch(() => config.root!);
      if (real !== config.root) paths.push(real);
    }
    for (const name of ["read", "write"] as const) {
      for (const path of paths) {
        if (!granted({ name, path })) missing.push(`--allow-${name}=${path}`);
      }
    }
  }
  return missing;
}

/** Whether the process may read and write the default folder (no prompting). */
function canServeFolder(root: string): boolean {
  return granted({ name: "read", path: root }) && granted({ name: "write", path: root });
}

/** The in-memory tree served without folder permissions: one file that says what it is. */
async function inMemoryTree(): Promise<MemoryStorage> {
  const { MemoryStorage } = await import("./src/storage/memory.ts");
  const storage = new MemoryStorage();
  const text = "This folder lives in exftp's memory: uploads work and are gone when it stops.\n" +
    `To serve a folder on disk: ${
      invocationHint(`--allow-net ${FOLDER_PERMISSIONS}`, "--root DIR")
    }\n`;
  await storage.write("/README.txt", ReadableStream.from([new TextEncoder().encode(text)]));
  return storage;
}

/** Where start, stop and reload lines go: plain text, or JSON lines in JSON log mode. */
type Say = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

function sayer(format: "text" | "json"): Say {
  return (level, message, fields) => {
    const write = level === "error" || level === "warn" ? console.error : console.log;
    if (format === "json") {
      write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
    } else {
      write(level === "error" ? `exftp: ${message}` : message);
    }
  };
}

const LISTENER_KEYS: Record<ListenerOption, string> = {
  port: "ftp_port (--port)",
  implicitTlsPort: "ftps_port",
};

/**
 * Run the CLI; resolves with the process exit code.
 *
 * What only some runs need (the help text, `hash-password`, the metrics
 * endpoint, the in-memory tree) is loaded by `import()` when it is used, with
 * literal specifiers so `deno compile` and `deno bundle` still include it: a
 * server of a plain folder doesn't carry it (RSS after start, issue 16).
 */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "hash-password") {
    const { hashPasswordCommand } = await import("./src/config/hash_password.ts");
    return await hashPasswordCommand(args.slice(1));
  }
  let flags;
  try {
    flags = parseArgs({
      args,
      options: flagOptions(),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`exftp: ${(error as Error).message} (see --help)`);
    return 2;
  }
  if (flags.help) {
    const { helpText } = await import("./src/config/docs.ts");
    console.log(helpText(VERSION, usageLines()));
    return 0;
  }
  if (flags.version) {
    console.log(`exftp ${VERSION}`);
    return 0;
  }

  let config: CliConfig;
  let rootNamed = false;
  try {
    const file = typeof flags.config === "string" ? flags.config : undefined;
    const fromFile: RawConfig = file ? await readConfigFile(file) : {};
    const raw = withFlags({ ...fromFile, ...configFromEnv(permittedEnv) }, flags);
    const baseDir = file ? path.dirname(path.resolve(file)) : Deno.cwd();
    rootNamed = (raw.storage_config as { root?: unknown } | undefined)?.root !== undefined;
    config = await buildOptions(raw, baseDir);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`exftp: config: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const say = sayer(config.logFormat);

  // No folder named and no permission for the default one: serve a tree in memory, so
  // `deno run --allow-net jsr:@exftp/server` works as written and exposes nothing on disk.
  if (config.root && !rootNamed && !canServeFolder(config.root)) {
    config.options.storage = await inMemoryTree();
    config.root = undefined;
    const host = netPermissionHost(config.options.hostname ?? "127.0.0.1");
    const serveFolder = invocationHint(`--allow-net=${host} ${FOLDER_PERMISSIONS}`, "--root DIR");
    say(
      "info",
      `Serving an in-memory folder (nothing on disk; gone at exit). To serve a folder: ${serveFolder}`,
      {
        storage: "memory",
      },
    );
  }

  const missing = await missingPermissions(config);
  if (missing.length) {
    say("error", `missing Deno permissions; run again with ${missing.join(" ")}`, { missing });
    return 2;
  }
  if (config.root) {
    try {
      const info = await Deno.stat(config.root);
      if (!info.isDirectory) throw new Error("not a folder");
    } catch (error) {
      say(
        "error",
        `config: storage_config.root: "${config.root}" is not a usable folder (${
          (error as Error).message
        })`,
      );
      return 2;
    }
  }

  let server: FtpServer;
  try {
    server = new FtpServer(config.options);
  } catch (error) {
    say("error", `config: ${(error as Error).message}`);
    return 2;
  }

  // SIGHUP never ends the process (its default action would), whatever is configured.
  const hangup = Deno.build.os === "windows" ? undefined : "SIGHUP" as const;
  const reloader = makeReloader(server, config, say);
  if (hangup) Deno.addSignalListener(hangup, reloader.onSignal);
  const stopWatching = config.tlsFiles ? watchCertificate(config.tlsFiles, reloader) : () => {};
  const cleanUp = async () => {
    if (hangup) Deno.removeSignalListener(hangup, reloader.onSignal);
    stopWatching();
    await reloader.idle();
    // Authenticators may hold resources (a users_file's signal listener).
    await (config.options.authenticator as { close?(): unknown } | undefined)?.close?.();
  };

  let addr;
  try {
    addr = await server.listen();
  } catch (error) {
    const option = (error as { option?: ListenerOption }).option ?? "port";
    const { hostname = "127.0.0.1" } = config.options;
    const port = option === "port" ? config.options.port : config.options.implicitTlsPort;
    const where = hostPort(hostname, port ?? 0);
    const key = LISTENER_KEYS[option];
    if (error instanceof Deno.errors.AddrInUse) {
      say("error", `${where} is already in use (set ${key})`, { key });
    } else if (error instanceof Deno.errors.NotCapable) {
      say(
        "error",
        `missing Deno permission; run again with --allow-net=${netPermissionHost(hostname)}`,
      );
    } else {
      say("error", `can't listen on ${where} (${key}): ${(error as Error).message}`, { key });
    }
    await cleanUp();
    return 1;
  }
  // Before saying it listens: whoever reacts to that line (a supervisor, a
  // test) may signal at once, and an unhandled SIGINT would kill the process.
  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  const stop = () => {
    if (stopping) Deno.exit(130); // a second signal: stop now
    stopping = true;
    // Draining: close() refuses new connections and makes /healthz answer 503 at
    // once; running transfers get shutdown_grace_s to finish.
    say("info", "Shutting down…", { draining: "new connections refused, /healthz 503" });
    server.close().then(stopped.resolve, stopped.reject);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  say("info", `Accepting connections on ${hostPort(addr.hostname, addr.port)}`, {
    hostname: addr.hostname,
    port: addr.port,
  });
  if (server.implicitTlsAddr) {
    const { hostname, port } = server.implicitTlsAddr;
    say("info", `Accepting implicit FTPS connections on ${hostPort(hostname, port)}`, {
      hostname,
      port,
    });
  }
  let metrics: Deno.HttpServer | undefined;
  if (config.metricsPort !== undefined) {
    const { authHealthCheck, serveMetrics, storageHealthCheck } = await import("./src/metrics.ts");
    try {
      metrics = serveMetrics(server, {
        port: config.metricsPort,
        hostname: addr.hostname,
        checks: [
          storageHealthCheck(config.options.storage),
          authHealthCheck(config.options.authenticator),
        ].filter((check) => check !== undefined),
      });
      const { port } = metrics.addr as Deno.NetAddr;
      say("info", `Metrics on http://${hostPort(addr.hostname, port)}/metrics`, {
        hostname: addr.hostname,
        port,
      });
    } catch (error) {
      const where = hostPort(addr.hostname, config.metricsPort);
      say(
        "error",
        error instanceof Deno.errors.AddrInUse
          ? `${where} is already in use (set metrics_port (--metrics-port))`
          : `can't serve metrics on ${where} (metrics_port): ${(error as Error).message}`,
        { key: "metrics_port" },
      );
      for (const signal of signals) Deno.removeSignalListener(signal, stop);
      await server.close();
      await cleanUp();
      return 1;
    }
  }

  await stopped.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  await metrics?.shutdown();
  await cleanUp();
  say("info", "Stopped");
  return 0;
}

interface Reloader {
  /** The SIGHUP listener: reload everything that can be. */
  onSignal(): void;
  /** Reload only the certificate (its files changed). */
  certificateChanged(): void;
  /** Resolves when no reload is running. */
  idle(): Promise<void>;
}

/**
 * SIGHUP reloads what can change without a restart: the `users_file` (when
 * the authenticator can reload) and the TLS certificate and key. One line
 * says what was reloaded, also when there was nothing to reload. Reloads
 * run one at a time.
 */
function makeReloader(server: FtpServer, config: CliConfig, say: Say): Reloader {
  let chain = Promise.resolve();
  const authenticator = config.options.authenticator as
    | { reload?(): Promise<boolean> }
    | undefined;
  const reloadCertificate = async (): Promise<boolean> => {
    const files = config.tlsFiles!;
    try {
      const cert = await readPemFile("tls.cert", files.cert);
      const key = await readPemFile("tls.key", files.key);
      server.setCertificate(cert, key);
      return true;
    } catch (error) {
      say("error", `keeping the current TLS certificate: ${(error as Error).message}`);
      return false;
    }
  };
  const enqueue = (task: () => Promise<void>) => {
    chain = chain.then(task).catch((error) => {
      say("error", `reload failed: ${(error as Error).message}`);
    });
  };
  return {
    onSignal() {
      enqueue(async () => {
        const reloaded: string[] = [];
        const failed: string[] = [];
        if (typeof authenticator?.reload === "function") {
          ((await authenticator.reload()) ? reloaded : failed).push("users_file");
        }
        if (config.tlsFiles) ((await reloadCertificate()) ? reloaded : failed).push("tls");
        if (reloaded.length + failed.length === 0) {
          say("info", "SIGHUP: nothing to reload (no users_file, no tls)", { reloaded });
        } else {
          say(
            failed.length ? "warn" : "info",
            `SIGHUP: reloaded ${reloaded.join(", ") || "nothing"}${
              failed.length ? `; kept the previous ${failed.join(", ")}` : ""
            }`,
            { reloaded, failed },
          );
        }
      });
    },
    certificateChanged() {
      enqueue(async () => {
        if (await reloadCertificate()) {
          say("info", "Reloaded the TLS certificate (its files changed)", { reloaded: ["tls"] });
        }
      });
    },
    idle: () => chain,
  };
}

/**
 * Reload the FTPS certificate and key when either file changes (e.g. a
 * renewal), without dropping sessions. A broken new pair is refused and the
 * old one kept. (SIGHUP reloads it too, through the reloader.)
 */
function watchCertificate(files: { cert: string; key: string }, reloader: Reloader): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(reloader.certificateChanged, 200); // a renewal writes both files: reload once
  };
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs([files.cert, files.key]);
    (async () => {
      for await (const event of watcher!) if (event.kind !== "access") soon();
    })().catch(() => {});
  } catch {
    // No watcher here: SIGHUP still works.
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}

/**
 * Run the CLI as the program: install the last-resort handler, run
 * {@linkcode main} with the process's arguments and exit with its code. It
 * awaits nothing at the top level of a module, so a custom authenticator or
 * connector module that imports `jsr:@exftp/server` while `mod.ts` starts the
 * CLI does not deadlock on `mod.ts`'s evaluation (a top-level `await` there did).
 */
export async function runCli(args: string[] = Deno.args): Promise<never> {
  // Last resort (README, "When a session fails"): every promise a session starts is
  // owned by it, so this should never run; if a bug lets one slip, it is logged at
  // error level and the other sessions go on. Only the CLI installs it: tests that
  // import the server see every unhandled rejection, and the chaos test fails on
  // this line in the CLI's log.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error(
      `${new Date().toISOString()} ERROR Unhandled promise rejection (a bug: please report it): ${
        String(event.reason)
      }`,
    );
  });
  let code = 1;
  try {
    code = await main(args);
  } catch (error) {
    console.error("exftp: uncaught error:", error);
  }
  Deno.exit(code);
}

if (import.meta.main) runCli();
