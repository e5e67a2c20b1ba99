/**
 * The authenticator and storage connector the config names: a built-in one
 * (by name, from the registries) or a module that default-exports one.
 *
 * @module
 */

import type { Authenticator } from "../auth/types.ts";
import { AUTHENTICATORS } from "../auth/registry.ts";
import { STORAGE_CONNECTORS } from "../storage/registry.ts";
import type { UploadMode } from "../storage/file.ts";
import type { StorageProvider } from "../storage/types.ts";
import type { Logger } from "../log.ts";
import * as path from "node:path";
import { ConfigError } from "./error.ts";

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

/** The `authenticator`, from its name and `authenticator_config`. */
export async function buildAuthenticator(
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

/** The `storage_connector`, from its name and `storage_config`. */
export async function buildStorage(
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

/**
 * The `storages` section: each name's `{connector, config}` built like
 * `storage_connector` (a `file` root relative to the config's folder).
 */
export async function buildNamedStorages(
  section: Record<string, unknown>,
  uploadMode: UploadMode | undefined,
  baseDir: string,
): Promise<Record<string, StorageProvider>> {
  const storages: Record<string, StorageProvider> = {};
  for (const [name, entry] of Object.entries(section)) {
    const key = `storages.${name}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ConfigError(key, "must be a mapping {connector, config}");
    }
    const { connector, config = {}, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) {
      throw new ConfigError(`${key}.${unknown}`, "unknown key; known keys are connector, config");
    }
    if (typeof connector !== "string" || connector.trim() === "") {
      throw new ConfigError(
        `${key}.connector`,
        "must name a connector (file, s3, memory or a module)",
      );
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
      throw new ConfigError(`${key}.config`, "must be a mapping");
    }
    let options = config as Record<string, unknown>;
    if (connector === "file" && typeof options.root === "string" && options.root) {
      options = { ...options, root: path.resolve(baseDir, options.root) };
    }
    try {
      storages[name] = await buildStorage(connector, options, uploadMode, baseDir);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // It names storage_config.x (or storage_connector): say which entry it was.
      const problem = error.message.slice(error.key.length + 2);
      throw new ConfigError(error.key.replace(/^storage_(config|connector)/, `${key}.$1`), problem);
    }
  }
  return storages;
}
