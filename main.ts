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
  permittedEnv,
  type RawConfig,
  readConfigFile,
  readPemFile,
} from "./src/config/config.ts";
import { FtpServer } from "./src/server.ts";
import { serveMetrics } from "./src/metrics.ts";
import * as path from "node:path";

const HELP = `exftp ${VERSION}: an FTP server with pluggable authentication and storage

Usage:
  deno run --allow-net --allow-read=DIR --allow-write=DIR --allow-env main.ts [options]

Options:
  --root DIR          folder to serve (storage_config.root)       default: .
  --port N            control port, 0 for any free port (ftp_port) default: 4040
  --addr ADDR         address to listen on (ftp_addr)             default: 127.0.0.1
  --config FILE       YAML config file (keys as in the README)
  --log-format FMT    text or json                               default: text
  --metrics-port N    serve /metrics (Prometheus) and /healthz on ADDR:N
  --help              show this help
  --version           print the version

Environment: FTP_PORT, FTP_ADDR, FTP_SERVER_NAME, MIN_PASSIVE_PORT, MAX_PASSIVE_PORT,
FTP_PASSIVE_ADDRESS, FTP_AUTHENTICATOR, FTP_STORAGE (needs --allow-env).
Precedence: flags > environment > config file > defaults.
`;

/** Which Deno permissions the configuration needs that are not granted, as flags. */
function missingPermissions(config: CliConfig): string[] {
  const missing: string[] = [];
  const { hostname = "127.0.0.1" } = config.options;
  const net = Deno.permissions.querySync({ name: "net", host: hostname });
  if (net.state !== "granted") missing.push(`--allow-net=${hostname}`);
  if (config.root) {
    const read = Deno.permissions.querySync({ name: "read", path: config.root });
    if (read.state !== "granted") missing.push(`--allow-read=${config.root}`);
    const write = Deno.permissions.querySync({ name: "write", path: config.root });
    if (write.state !== "granted") missing.push(`--allow-write=${config.root}`);
  }
  return missing;
}

/** Run the CLI; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        config: { type: "string", short: "c" },
        port: { type: "string", short: "p" },
        root: { type: "string", short: "r" },
        addr: { type: "string" },
        "log-format": { type: "string" },
        "metrics-port": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`exftp: ${(error as Error).message} (see --help)`);
    return 2;
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (flags.version) {
    console.log(`exftp ${VERSION}`);
    return 0;
  }

  let config: CliConfig;
  try {
    const fromFile: RawConfig = flags.config ? await readConfigFile(flags.config) : {};
    const raw: RawConfig = { ...fromFile, ...configFromEnv(permittedEnv) };
    if (flags.port !== undefined) raw.ftp_port = flags.port;
    if (flags.addr !== undefined) raw.ftp_addr = flags.addr;
    if (flags["log-format"] !== undefined) raw.log_format = flags["log-format"];
    if (flags["metrics-port"] !== undefined) raw.metrics_port = flags["metrics-port"];
    if (flags.root !== undefined) {
      raw.storage_config = { ...(raw.storage_config as object ?? {}), root: flags.root };
    }
    const baseDir = flags.config ? path.dirname(path.resolve(flags.config)) : Deno.cwd();
    config = await buildOptions(raw, baseDir);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`exftp: config: ${error.message}`);
      return 2;
    }
    throw error;
  }

  const missing = missingPermissions(config);
  if (missing.length) {
    console.error(`exftp: missing Deno permissions; run again with ${missing.join(" ")}`);
    return 2;
  }
  if (config.root) {
    try {
      const info = await Deno.stat(config.root);
      if (!info.isDirectory) throw new Error("not a folder");
    } catch (error) {
      console.error(
        `exftp: config: storage_config.root: "${config.root}" is not a usable folder (${
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
    console.error(`exftp: config: ${(error as Error).message}`);
    return 2;
  }
  let addr;
  try {
    addr = await server.listen();
  } catch (error) {
    const { hostname, port } = config.options;
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`exftp: ${hostname}:${port} is already in use (set --port or ftp_port)`);
    } else if (error instanceof Deno.errors.NotCapable) {
      console.error(`exftp: missing Deno permission; run again with --allow-net=${hostname}`);
    } else {
      console.error(`exftp: can't listen on ${hostname}:${port}: ${(error as Error).message}`);
    }
    return 1;
  }
  console.log(`Accepting connections on ${addr.hostname}:${addr.port}`);
  if (server.implicitTlsAddr) {
    const { hostname, port } = server.implicitTlsAddr;
    console.log(`Accepting implicit FTPS connections on ${hostname}:${port}`);
  }
  const stopWatching = config.tlsFiles ? watchCertificate(server, config.tlsFiles) : () => {};
  let metrics: Deno.HttpServer | undefined;
  if (config.metricsPort !== undefined) {
    try {
      metrics = serveMetrics(server, { port: config.metricsPort, hostname: addr.hostname });
      const { port } = metrics.addr as Deno.NetAddr;
      console.log(`Metrics on http://${addr.hostname}:${port}/metrics`);
    } catch (error) {
      console.error(
        `exftp: can't serve metrics on port ${config.metricsPort}: ${(error as Error).message}`,
      );
      await server.close();
      return 1;
    }
  }

  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  const stop = () => {
    if (stopping) Deno.exit(130); // a second signal: stop now
    stopping = true;
    console.log("Shutting down…");
    server.close().then(stopped.resolve, stopped.reject);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  await stopped.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  stopWatching();
  await metrics?.shutdown();
  // Authenticators may hold listeners (users_file reloads on SIGHUP).
  await (config.options.authenticator as { close?(): unknown } | undefined)?.close?.();
  return 0;
}

/**
 * Reload the FTPS certificate and key on SIGHUP and when either file changes
 * (e.g. a renewal), without dropping sessions. A broken new pair is refused
 * and the old one kept.
 */
function watchCertificate(server: FtpServer, files: { cert: string; key: string }): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reload = async () => {
    try {
      const cert = await readPemFile("tls.cert", files.cert);
      const key = await readPemFile("tls.key", files.key);
      server.setCertificate(cert, key);
      console.log("Reloaded the TLS certificate");
    } catch (error) {
      console.error(`exftp: keeping the current TLS certificate: ${(error as Error).message}`);
    }
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 200); // a renewal writes both files: reload once
  };
  const hangup = Deno.build.os === "windows" ? undefined : "SIGHUP" as const;
  if (hangup) Deno.addSignalListener(hangup, soon);
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
    if (hangup) Deno.removeSignalListener(hangup, soon);
    watcher?.close();
  };
}

if (import.meta.main) {
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
  Deno.exit(await main(Deno.args));
}
