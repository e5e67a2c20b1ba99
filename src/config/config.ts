/**
 * The CLI's configuration: a YAML file, environment variables and flags,
 * merged in rising precedence over the defaults, validated key by key into
 * {@linkcode FtpServerOptions} by the rules of the settings table
 * (`schema.ts`). Every problem is a {@linkcode ConfigError} that names the key.
 *
 * @module
 */

import * as path from "node:path";
import { ConfigError } from "./error.ts";
import { type FtpServerOptions, resolveOptions } from "../options.ts";
import { FileStorage, type UploadMode } from "../storage/file.ts";
import { consoleLogger, jsonLogger } from "../log.ts";
import {
  CONFIG_KEYS,
  crossProblems,
  problemWith,
  type Setting,
  settingOfKey,
  settingOfOption,
  SETTINGS,
} from "./schema.ts";
import type { RawConfig } from "./sources.ts";
import { buildAuthenticator, buildNamedStorages, buildStorage } from "./plugins.ts";
import { buildTls } from "./tls.ts";
import { buildEvents } from "../webhooks/config.ts";
import { clusterOptionsFromConfig } from "../cluster/options.ts";

export { ConfigError };
export { CONFIG_KEYS, ENV_KEYS } from "./schema.ts";
export {
  configFromEnv,
  flagOptions,
  parseConfigText,
  permittedEnv,
  type RawConfig,
  readConfigFile,
  withFlags,
} from "./sources.ts";
export { readPemFile } from "./tls.ts";

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

/**
 * A raw value of a top-level setting (from YAML, or a string from the
 * environment or a flag) in the option's unit, checked by its rule.
 */
function readSetting(setting: Setting, raw: unknown): unknown {
  let value = raw;
  if (setting.kind === "integer" && typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) {
    value = Number(raw);
  } else if (setting.kind === "duration") {
    const number = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
    value = typeof number === "number" ? number * setting.unit! : number;
  } else if (setting.kind === "address" && typeof raw === "string" && /^\[.*\]$/.test(raw)) {
    value = raw.slice(1, -1); // [::1], as in URLs and --allow-net
  }
  const problem = problemWith(setting, value, raw);
  if (problem) throw new ConfigError(setting.key!, problem);
  return setting.kind === "duration" ? Math.round(value as number) : value;
}

/** Every top-level setting that is set, checked, by key. */
function readSettings(raw: RawConfig): Map<string, unknown> {
  for (const key of Object.keys(raw)) {
    if (!CONFIG_KEYS.includes(key)) {
      throw new ConfigError(key, `unknown key; known keys are ${CONFIG_KEYS.join(", ")}`);
    }
  }
  const values = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    const value = setting.key === undefined ? undefined : raw[setting.key];
    // A key left empty in YAML (null) is unset when that has a meaning: no mapping,
    // or a choice's default.
    const unset = value === null &&
      (setting.kind === "mapping" || (setting.kind === "choice" && setting.default !== undefined));
    if (value === undefined || unset) continue;
    values.set(setting.key!, readSetting(setting, value));
  }
  const byOption = (option: string) => settingOfOption(option)!;
  const cross = crossProblems(
    (option) => {
      const setting = byOption(option);
      return values.get(setting.key!) ?? setting.default;
    },
    (option) => byOption(option).key!,
  );
  if (cross) throw new ConfigError(cross.setting.key!, cross.problem);
  return values;
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
  const values = readSettings(raw);
  const get = (key: string) => values.get(key) ?? settingOfKey(key)?.default;
  // One address, or a list of { networks, address } rules (each address checked).
  const passiveAddress = values.get("passive_address") as
    | string
    | { address: string }[]
    | undefined;
  for (const rule of [passiveAddress ?? []].flat()) {
    const address = typeof rule === "string" ? rule : rule.address;
    if (address !== "connected") await checkPassiveAddress(address);
  }
  const storageName = get("storage_connector") as string;
  let storageConfig = (values.get("storage_config") ?? {}) as Record<string, unknown>;
  if (storageName === "file" && typeof storageConfig.root === "string" && storageConfig.root) {
    // Like every other relative path in the file: from the config file's folder.
    storageConfig = { ...storageConfig, root: path.resolve(baseDir, storageConfig.root) };
  }
  const storage = await buildStorage(
    storageName,
    storageConfig,
    values.get("upload_mode") as UploadMode | undefined,
    baseDir,
  );
  const storages = await buildNamedStorages(
    (values.get("storages") ?? {}) as Record<string, unknown>,
    values.get("upload_mode") as UploadMode | undefined,
    baseDir,
  );
  const tls = await buildTls(values.get("tls") as Record<string, unknown> | undefined, baseDir);
  const logFormat = get("log_format") as "text" | "json";
  const logger = logFormat === "json" ? jsonLogger() : consoleLogger();
  const settings: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    if (setting.key === undefined || setting.option === undefined) continue;
    if (setting.kind !== "mapping") settings[setting.option] = get(setting.key);
  }
  const options: FtpServerOptions = {
    ...settings,
    tls: tls?.options,
    events: buildEvents(values.get("events") as Record<string, unknown> | undefined, baseDir),
    cluster: clusterOptionsFromConfig(values.get("cluster") as Record<string, unknown> | undefined),
    authenticator: await buildAuthenticator(
      get("authenticator") as string,
      (values.get("authenticator_config") ?? {}) as Record<string, unknown>,
      baseDir,
      logger,
    ),
    storage,
    storages,
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
    metricsPort: values.get("metrics_port") as number | undefined,
    logFormat,
  };
}
