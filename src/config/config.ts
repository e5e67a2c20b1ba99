/**
 * The CLI's configuration: a YAML file, environment variables and flags,
 * merged in rising precedence over the defaults, validated key by key into
 * {@linkcode FtpServerOptions}. Every problem is a {@linkcode ConfigError}
 * that names the key.
 *
 * @module
 */

import type { Authenticator } from "../auth/types.ts";
import { AUTHENTICATORS } from "../auth/registry.ts";
import { STORAGE_CONNECTORS } from "../storage/registry.ts";
import { ConfigError } from "./error.ts";
import * as path from "node:path";
import { DEFAULTS, type FtpServerOptions, resolveOptions } from "../options.ts";
import type { TlsOptions } from "../tls.ts";
import { FileStorage, type UploadMode } from "../storage/file.ts";

export { ConfigError };
import type { StorageProvider } from "../storage/types.ts";
import { consoleLogger, jsonLogger, type Logger } from "../log.ts";

/** The raw configuration, keyed as in the YAML file. */
export type RawConfig = Record<string, unknown>;

/** Environment variables and the YAML key each sets. */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  FTP_PORT: "ftp_port",
  FTP_ADDR: "ftp_addr",
  FTP_SERVER_NAME: "server_name",
  MIN_PASSIVE_PORT: "min_passive_port",
  MAX_PASSIVE_PORT: "max_passive_port",
  FTP_PASSIVE_ADDRESS: "passive_address",
  FTP_AUTHENTICATOR: "authenticator",
  FTP_STORAGE: "storage_connector",
};

/** Every key the YAML file may contain, with its meaning (for errors and --help). */
export const CONFIG_KEYS = [
  "ftp_port",
  "ftp_addr",
  "server_name",
  "min_passive_port",
  "max_passive_port",
  "passive_address",
  "authenticator",
  "authenticator_config",
  "storage_connector",
  "storage_config",
  "upload_mode",
  "max_sessions",
  "max_sessions_per_ip",
  "login_timeout_s",
  "idle_timeout_s",
  "passive_accept_timeout_s",
  "data_stall_timeout_s",
  "login_failure_delay_ms",
  "max_login_failures",
  "ban_after_failures",
  "ban_minutes",
  "shutdown_grace_s",
  "log_format",
  "tls",
  "ftps_port",
  "metrics_port",
] as const;

/** Parse YAML text into a raw config (a mapping at the top). */
export async function parseConfigText(text: string, source: string): Promise<RawConfig> {
  // js-yaml rather than npm:yaml: the latter reads LOG_TOKENS/LOG_STREAM from the
  // environment while parsing, which would force --allow-env on every config file.
  const { load } = await import("js-yaml");
  if (text.replace(/#.*$/gm, "").trim() === "") return {}; // empty or only comments
  let value: unknown;
  try {
    value = load(text);
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    throw new ConfigError(source, `not valid YAML: ${message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(source, "must be a mapping of keys to values");
  }
  return value as RawConfig;
}

/** Read and parse a YAML config file. */
export async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(
        "--config",
        `no permission to read "${path}": add --allow-read=${path}`,
      );
    }
    throw new ConfigError("--config", `can't read "${path}": ${(error as Error).message}`);
  }
  return await parseConfigText(text, path);
}

/** The config keys set by environment variables (only those Deno lets us read). */
export function configFromEnv(env: (name: string) => string | undefined): RawConfig {
  const raw: RawConfig = {};
  for (const [variable, key] of Object.entries(ENV_KEYS)) {
    const value = env(variable);
    if (value !== undefined && value !== "") raw[key] = value;
  }
  return raw;
}

/** Read environment variables where permitted, silently skipping the others. */
export function permittedEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name);
}

function integer(raw: RawConfig, key: string, min: number, max: number): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const number = typeof value === "string" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(
      key,
      `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

function seconds(
  raw: RawConfig,
  key: string,
  scale = 1000,
  positive = true,
): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (
    typeof number !== "number" || !Number.isFinite(number) || number < 0 ||
    (positive && number * scale < 1)
  ) {
    throw new ConfigError(
      key,
      `must be a number ${positive ? "above" : "of at least"} 0, got ${JSON.stringify(value)}`,
    );
  }
  const ms = Math.round(number * scale);
  if (ms > 2 ** 31 - 1) throw new ConfigError(key, `is too large (${value})`);
  return ms;
}

function text(raw: RawConfig, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigError(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function mapping(raw: RawConfig, key: string): Record<string, unknown> {
  const value = raw[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(key, `must be a mapping, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function isModuleReference(name: string): boolean {
  return /^(\.{0,2}\/|file:|https?:|[A-Za-z]:\\)/.test(name) || /\.(ts|js|mjs|mts)$/.test(name);
}

async function importDefault(key: string, specifier: string, baseDir: string): Promise<unknown> {
  const url = /^[a-z]+:/.test(specifier) && !/^[A-Za-z]:\\/.test(specifier)
    ? specifier
    : new URL(specifier, `file://${baseDir.endsWith("/") ? baseDir : baseDir + "/"}`).href;
  try {
    const module = await import(url);
    return module.default;
  } catch (error) {
    throw new ConfigError(key, `can't load module "${specifier}": ${(error as Error).message}`);
  }
}

async function buildAuthenticator(
  name: string,
  config: Record<string, unknown>,
  baseDir: string,
  logger: Logger,
): Promise<Authenticator> {
  if (Object.hasOwn(AUTHENTICATORS, name)) {
    return await AUTHENTICATORS[name](config, { baseDir, logger });
  }
  if (isModuleReference(name)) {
    let exported = await importDefault("authenticator", name, baseDir);
    if (typeof exported === "function") {
      try {
        exported = await (exported as (c: unknown) => unknown)(config);
      } catch (error) {
        throw new ConfigError(
          "authenticator",
          `module "${name}" failed: ${(error as Error).message}`,
        );
      }
    }
    if (typeof (exported as Authenticator | null)?.authenticate !== "function") {
      throw new ConfigError(
        "authenticator",
        `module "${name}" must default-export an Authenticator (or a function returning one)`,
      );
    }
    return exported as Authenticator;
  }
  throw new ConfigError(
    "authenticator",
    `unknown authenticator "${name}"; use one of ${
      Object.keys(AUTHENTICATORS).join(", ")
    }, or a module path`,
  );
}

async function buildStorage(
  name: string,
  config: Record<string, unknown>,
  uploadMode: UploadMode | undefined,
  baseDir: string,
): Promise<StorageProvider> {
  if (Object.hasOwn(STORAGE_CONNECTORS, name)) {
    return await STORAGE_CONNECTORS[name](config, { baseDir, uploadMode });
  }
  if (isModuleReference(name)) {
    // The default export is a connector, or a function of storage_config that
    // returns a connector or a per-user provider `(user) => connector`.
    let exported = await importDefault("storage_connector", name, baseDir);
    if (typeof exported === "function") {
      try {
        exported = await (exported as (c: unknown) => unknown)(config);
      } catch (error) {
        throw new ConfigError(
          "storage_connector",
          `module "${name}" failed: ${(error as Error).message}`,
        );
      }
    }
    if (
      typeof exported !== "function" &&
      typeof (exported as { stat?: unknown } | null)?.stat !== "function"
    ) {
      throw new ConfigError(
        "storage_connector",
        `module "${name}" must default-export a StorageConnector, or a function of storage_config returning one (or a per-user function)`,
      );
    }
    return exported as StorageProvider;
  }
  throw new ConfigError(
    "storage_connector",
    `unknown storage connector "${name}"; use one of ${
      Object.keys(STORAGE_CONNECTORS).join(", ")
    }, or a module path`,
  );
}

/** The result of {@linkcode buildOptions}: server options plus what the CLI needs. */
export interface CliConfig {
  /** Options for {@linkcode FtpServer}. */
  options: FtpServerOptions;
  /** The folder served, when the file connector is used (for permission checks). */
  root?: string;
  /** Certificate and key files, when FTPS is configured (the CLI reloads them). */
  tlsFiles?: { cert: string; key: string };
  /** Port of the HTTP metrics endpoint (`/metrics`, `/healthz`), when wanted. */
  metricsPort?: number;
  /** `log_format`: how the CLI's own start, stop and reload lines are written too. */
  logFormat: "text" | "json";
}

const TLS_KEYS = [
  "cert",
  "key",
  "min_version",
  "require_tls_for_login",
  "require_tls_for_data",
  "session_reuse",
];

function flag(tls: Record<string, unknown>, key: string): boolean | undefined {
  const value = tls[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") {
    throw new ConfigError(`tls.${key}`, `must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A passive address must be an IPv4 address, or a host name that resolves to one. */
async function checkPassiveAddress(address: string): Promise<void> {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) {
    if (address.split(".").every((part) => Number(part) <= 255)) return;
  } else if (
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
      .test(address)
  ) {
    try {
      const { lookup } = await import("node:dns/promises");
      await lookup(address, { family: 4 });
      return;
    } catch (error) {
      throw new ConfigError(
        "passive_address",
        `"${address}" does not resolve to an IPv4 address (${(error as Error).message})`,
      );
    }
  }
  throw new ConfigError(
    "passive_address",
    `must be an IPv4 address or a host name, got "${address}"`,
  );
}

/** Read a PEM file named in the config, with a message naming the key. */
export async function readPemFile(key: string, path: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    if (!text.includes("-----BEGIN")) throw new Error("not a PEM file");
    return text;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(key, `no permission to read "${path}": add --allow-read=${path}`);
    }
    throw new ConfigError(key, `can't read "${path}": ${(error as Error).message}`);
  }
}

async function buildTls(
  raw: RawConfig,
  baseDir: string,
): Promise<{ options: TlsOptions; files: { cert: string; key: string } } | undefined> {
  if (raw.tls === undefined || raw.tls === null) {
    if (raw.ftps_port !== undefined) throw new ConfigError("ftps_port", "needs a tls section");
    return undefined;
  }
  const tls = mapping(raw, "tls");
  for (const key of Object.keys(tls)) {
    if (!TLS_KEYS.includes(key)) {
      throw new ConfigError(`tls.${key}`, `unknown key; known: ${TLS_KEYS.join(", ")}`);
    }
  }
  const files = { cert: "", key: "" };
  for (const key of ["cert", "key"] as const) {
    const value = tls[key];
    if (typeof value !== "string" || value === "") {
      throw new ConfigError(`tls.${key}`, "must name a PEM file");
    }
    files[key] = path.resolve(baseDir, value);
  }
  const minVersion = tls.min_version ?? "TLSv1.2";
  if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") {
    throw new ConfigError(
      "tls.min_version",
      `must be TLSv1.2 or TLSv1.3, got ${JSON.stringify(minVersion)}`,
    );
  }
  const reuse = tls.session_reuse === false ? "off" : tls.session_reuse ?? "off";
  if (reuse !== "off" && reuse !== "prefer" && reuse !== "require") {
    throw new ConfigError(
      "tls.session_reuse",
      `must be off, prefer or require, got ${JSON.stringify(reuse)}`,
    );
  }
  return {
    files,
    options: {
      cert: await readPemFile("tls.cert", files.cert),
      key: await readPemFile("tls.key", files.key),
      minVersion,
      requireTlsForLogin: flag(tls, "require_tls_for_login"),
      requireTlsForData: flag(tls, "require_tls_for_data"),
      sessionReuse: reuse,
    },
  };
}

/**
 * Validate a merged raw config and build server options.
 *
 * @param raw keys as in the YAML file (env and flags already merged in)
 * @param baseDir where relative paths (modules, `storage_config.root`, TLS files) are
 *   resolved: the config file's folder
 */
export async function buildOptions(
  raw: RawConfig,
  baseDir: string = Deno.cwd(),
): Promise<CliConfig> {
  for (const key of Object.keys(raw)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(key, `unknown key; known keys are ${CONFIG_KEYS.join(", ")}`);
    }
  }
  const port = integer(raw, "ftp_port", 0, 65535);
  const min = integer(raw, "min_passive_port", 0, 65535) ?? DEFAULTS.minPassivePort;
  const max = integer(raw, "max_passive_port", 0, 65535) ?? DEFAULTS.maxPassivePort;
  if (min > max) {
    throw new ConfigError(
      "min_passive_port",
      `(${min}) must not be greater than max_passive_port (${max})`,
    );
  }
  if ((min === 0) !== (max === 0)) {
    throw new ConfigError(
      "min_passive_port",
      "and max_passive_port must both be 0 (any port) or neither",
    );
  }
  let hostname = text(raw, "ftp_addr");
  if (hostname !== undefined && /^\[[\w.:%-]+\]$/.test(hostname)) {
    hostname = hostname.slice(1, -1); // [::1], as in URLs and --allow-net
  }
  if (hostname !== undefined && !/^[\w.:%-]+$/.test(hostname)) {
    throw new ConfigError("ftp_addr", `is not an address: ${JSON.stringify(hostname)}`);
  }
  const logFormat = raw.log_format ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new ConfigError("log_format", `must be text or json, got ${JSON.stringify(logFormat)}`);
  }
  const uploadMode = raw.upload_mode;
  if (
    uploadMode !== undefined &&
    !["atomic", "atomic_resume", "direct"].includes(uploadMode as string)
  ) {
    throw new ConfigError(
      "upload_mode",
      `must be atomic, atomic_resume or direct, got ${JSON.stringify(uploadMode)}`,
    );
  }
  const passiveAddress = text(raw, "passive_address");
  if (passiveAddress !== undefined) await checkPassiveAddress(passiveAddress);
  const storageName = text(raw, "storage_connector") ?? "file";
  let storageConfig = mapping(raw, "storage_config");
  if (storageName === "file" && typeof storageConfig.root === "string" && storageConfig.root) {
    // Like every other relative path in the file: from the config file's folder.
    storageConfig = { ...storageConfig, root: path.resolve(baseDir, storageConfig.root) };
  }
  const storage = await buildStorage(
    storageName,
    storageConfig,
    uploadMode as UploadMode | undefined,
    baseDir,
  );
  const tls = await buildTls(raw, baseDir);
  const logger = logFormat === "json" ? jsonLogger() : consoleLogger();
  const options: FtpServerOptions = {
    tls: tls?.options,
    implicitTlsPort: integer(raw, "ftps_port", 0, 65535),
    port: port ?? DEFAULTS.port,
    hostname: hostname ?? DEFAULTS.hostname,
    serverName: text(raw, "server_name"),
    minPassivePort: min,
    maxPassivePort: max,
    passiveAddress,
    authenticator: await buildAuthenticator(
      text(raw, "authenticator") ?? "passthrough",
      mapping(raw, "authenticator_config"),
      baseDir,
      logger,
    ),
    storage,
    maxSessions: integer(raw, "max_sessions", 1, 1_000_000),
    maxSessionsPerIp: integer(raw, "max_sessions_per_ip", 1, 1_000_000),
    loginTimeoutMs: seconds(raw, "login_timeout_s"),
    idleTimeoutMs: seconds(raw, "idle_timeout_s"),
    passiveAcceptTimeoutMs: seconds(raw, "passive_accept_timeout_s"),
    dataStallTimeoutMs: seconds(raw, "data_stall_timeout_s"),
    loginFailureDelayMs: seconds(raw, "login_failure_delay_ms", 1, false),
    maxLoginFailures: integer(raw, "max_login_failures", 1, 1_000_000),
    banAfterFailures: integer(raw, "ban_after_failures", 0, 1_000_000),
    banMs: seconds(raw, "ban_minutes", 60_000),
    shutdownGraceMs: seconds(raw, "shutdown_grace_s", 1000, false),
    logger,
  };
  try {
    // Let the server validate what it checks itself (a certificate that doesn't parse…).
    resolveOptions(options);
  } catch (error) {
    const message = (error as Error).message;
    throw new ConfigError(message.includes("tls") ? "tls" : "config", message);
  }
  return {
    options,
    root: storage instanceof FileStorage ? storage.root : undefined,
    tlsFiles: tls?.files,
    metricsPort: integer(raw, "metrics_port", 0, 65535),
    logFormat,
  };
}
