/**
 * The built-in storage connectors by config name (`storage_connector: file`),
 * each a factory of its `storage_config` mapping that throws a
 * {@linkcode ConfigError} naming the key when something is wrong.
 *
 * @module
 */

import { ConfigError } from "../config/error.ts";
import { FileStorage, type UploadMode } from "./file.ts";
import type { StorageProvider } from "./types.ts";

/** What a factory gets besides its config. */
export interface StorageFactoryContext {
  /** Folder that relative paths in the config are resolved from. */
  baseDir: string;
  /** The top-level `upload_mode`, when set. */
  uploadMode?: UploadMode;
}

/** Builds a storage provider from its config mapping. */
export type StorageFactory = (
  config: Record<string, unknown>,
  context: StorageFactoryContext,
) => StorageProvider | Promise<StorageProvider>;

const UPLOAD_MODES = ["atomic", "atomic_resume", "direct"];

/** Reject keys a connector does not know, naming the first one. */
export function checkKeys(config: Record<string, unknown>, known: string[]): void {
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      throw new ConfigError(`storage_config.${key}`, `unknown key; known: ${known.join(", ")}`);
    }
  }
}

/** Every built-in storage connector, by config name. */
export const STORAGE_CONNECTORS: Record<string, StorageFactory> = {
  file(config, { uploadMode }) {
    checkKeys(config, ["root", "upload_mode"]);
    const root = config.root ?? ".";
    if (typeof root !== "string" || root === "") {
      throw new ConfigError(
        "storage_config.root",
        `must be a folder path, got ${JSON.stringify(root)}`,
      );
    }
    const mode = config.upload_mode ?? uploadMode;
    if (mode !== undefined && !UPLOAD_MODES.includes(mode as string)) {
      throw new ConfigError(
        "upload_mode",
        `must be atomic, atomic_resume or direct, got ${JSON.stringify(mode)}`,
      );
    }
    return new FileStorage({ root, uploadMode: mode as UploadMode | undefined });
  },
};
