/**
 * The built-in storage connectors by config name (`storage_connector: file`),
 * each a factory of its `storage_config` mapping that throws a
 * {@linkcode ConfigError} naming the key when something is wrong.
 *
 * @module
 */

import { ConfigError } from "../config/error.ts";
import { consoleLogger, type Logger } from "../log.ts";
import type { FtpUser } from "../auth/types.ts";
import { StorageError } from "../errors.ts";
import { FileStorage, type UploadMode } from "./file.ts";
import type { S3Storage, S3StorageOptions } from "./s3/mod.ts";
import type { StorageConnector, StorageProvider } from "./types.ts";

/** What a factory gets besides its config. */
export interface StorageFactoryContext {
  /** Folder that relative paths in the config are resolved from. */
  baseDir: string;
  /** The top-level `upload_mode`, when set. */
  uploadMode?: UploadMode;
  /** Where background work (the s3 sweep of abandoned uploads) reports. @default {consoleLogger()} */
  logger?: Logger;
}

/** Builds a storage provider from its config mapping. */
export type StorageFactory = (
  config: Record<string, unknown>,
  context: StorageFactoryContext,
) => StorageProvider | Promise<StorageProvider>;

const UPLOAD_MODES = ["atomic", "atomic_resume", "direct"];

const S3_KEYS = [
  "bucket",
  "prefix",
  "region",
  "endpoint",
  "force_path_style",
  "request_checksum_calculation",
  "access_key_id",
  "secret_access_key",
  "session_token",
  "part_size_mib",
  "queue_size",
  "upload_mode",
  "abandoned_upload_hours",
];

/** The per-user placeholder of `storage_config.prefix`. */
const USERNAME_PLACEHOLDER = "{username}";

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
  memory(config) {
    checkKeys(config, ["max_bytes"]);
    const maxBytes = config.max_bytes ?? Infinity;
    if (maxBytes !== Infinity && !(Number.isSafeInteger(maxBytes) && (maxBytes as number) >= 0)) {
      throw new ConfigError(
        "storage_config.max_bytes",
        `must be a number of bytes, got ${JSON.stringify(maxBytes)}`,
      );
    }
    // Loaded only when named, like S3 (RSS after start, issue 16); a bad config still throws at once.
    return import("./memory.ts").then(({ MemoryStorage }) =>
      new MemoryStorage({ maxBytes: maxBytes as number })
    );
  },
  async s3(config, { uploadMode, logger = consoleLogger() }) {
    const options = s3Options({ upload_mode: uploadMode, ...config });
    const prefix = options.prefix ?? "";
    // Loads only the connector module here; the SDK follows on the first request.
    const { S3Storage } = await import("./s3/mod.ts");
    const perUser = prefix.includes(USERNAME_PLACEHOLDER);
    let storage: S3Storage;
    try {
      storage = new S3Storage({
        ...options,
        prefix: perUser ? prefix.slice(0, prefix.indexOf(USERNAME_PLACEHOLDER)) : prefix,
      });
    } catch (error) {
      throw new ConfigError("storage_config", (error as Error).message);
    }
    // Wrong or missing credentials, a missing bucket or an unreachable store fail
    // whatever the prefix. Only a policy refusal (AccessDenied) of the shared part
    // of a per-user prefix is excused: each user's own prefix is judged at login.
    const check = async () => {
      try {
        await storage.check();
      } catch (error) {
        const code = (error as { cause?: { name?: string } }).cause?.name;
        if (!(perUser && code === "AccessDenied")) throw error;
      }
    };
    try {
      await check();
    } catch (error) {
      storage.destroy();
      throw new ConfigError(
        error instanceof StorageError && /Bucket/.test(error.message)
          ? "storage_config.bucket"
          : "storage_config",
        (error as Error).message,
      );
    }
    // Kept uploads of atomic_resume that nobody resumed: aborted now and then.
    if (options.uploadMode === "atomic_resume") {
      storage.keepSweeping((error) =>
        logger("warn", `storage: sweeping abandoned uploads failed: ${(error as Error).message}`)
      );
    }
    if (!perUser) return storage;
    const provider = async (user: FtpUser): Promise<StorageConnector> => {
      const view = storage.forPrefix(prefixForUser(prefix, user.username));
      await view.check(); // a clear reason in the log, and 530 rather than a broken session
      return view;
    };
    return Object.assign(provider, { check }); // for /healthz
  },
};

/** Validate `storage_config` for `s3` into connector options (without the SDK). */
export function s3Options(config: Record<string, unknown>): S3StorageOptions {
  checkKeys(config, S3_KEYS);
  const text = (key: string, required = false): string | undefined => {
    const value = config[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== "string" || value === "") {
      throw new ConfigError(
        `storage_config.${key}`,
        `must be a non-empty string, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const whole = (key: string, min: number, max: number): number | undefined => {
    const value = config[key];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(
        `storage_config.${key}`,
        `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const bucket = text("bucket", true)!;
  const prefix = config.prefix === undefined || config.prefix === "" ? "" : text("prefix")!;
  const placeholders = prefix.match(/\{[^}]*\}/g) ?? [];
  if (placeholders.some((p) => p !== USERNAME_PLACEHOLDER)) {
    throw new ConfigError(
      "storage_config.prefix",
      `the only placeholder is {username}, got ${JSON.stringify(prefix)}`,
    );
  }
  if (prefix.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new ConfigError("storage_config.prefix", `must not contain "." or ".." segments`);
  }
  const endpoint = text("endpoint");
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    throw new ConfigError(
      "storage_config.endpoint",
      `must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`,
    );
  }
  const forcePathStyle = config.force_path_style;
  if (forcePathStyle !== undefined && typeof forcePathStyle !== "boolean") {
    throw new ConfigError(
      "storage_config.force_path_style",
      `must be true or false, got ${JSON.stringify(forcePathStyle)}`,
    );
  }
  const checksums = config.request_checksum_calculation ?? "WHEN_REQUIRED";
  if (checksums !== "WHEN_REQUIRED" && checksums !== "WHEN_SUPPORTED") {
    throw new ConfigError(
      "storage_config.request_checksum_calculation",
      `must be WHEN_REQUIRED or WHEN_SUPPORTED, got ${JSON.stringify(checksums)}`,
    );
  }
  const accessKeyId = text("access_key_id");
  const secretAccessKey = text("secret_access_key");
  const sessionToken = text("session_token");
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError(
      accessKeyId === undefined
        ? "storage_config.access_key_id"
        : "storage_config.secret_access_key",
      "access_key_id and secret_access_key go together (or leave both out for the AWS chain)",
    );
  }
  if (sessionToken !== undefined && accessKeyId === undefined) {
    throw new ConfigError(
      "storage_config.session_token",
      "needs access_key_id and secret_access_key",
    );
  }
  const partSizeMiB = whole("part_size_mib", 5, 5120);
  const queueSize = whole("queue_size", 1, 64);
  const uploadMode = config.upload_mode;
  if (uploadMode !== undefined && !UPLOAD_MODES.includes(uploadMode as string)) {
    throw new ConfigError(
      "upload_mode",
      `must be atomic, atomic_resume or direct, got ${JSON.stringify(uploadMode)}`,
    );
  }
  const abandonedUploadHours = config.abandoned_upload_hours;
  if (
    abandonedUploadHours !== undefined &&
    !(typeof abandonedUploadHours === "number" && abandonedUploadHours > 0)
  ) {
    throw new ConfigError(
      "storage_config.abandoned_upload_hours",
      `must be a positive number of hours, got ${JSON.stringify(abandonedUploadHours)}`,
    );
  }
  return {
    bucket,
    prefix,
    region: text("region"),
    endpoint,
    forcePathStyle: forcePathStyle as boolean | undefined,
    requestChecksumCalculation: checksums,
    credentials: accessKeyId === undefined
      ? undefined
      : { accessKeyId, secretAccessKey: secretAccessKey!, sessionToken },
    partSize: partSizeMiB === undefined ? undefined : partSizeMiB * 1024 * 1024,
    queueSize,
    ...(uploadMode === undefined ? {} : { uploadMode: uploadMode as UploadMode }),
    ...(abandonedUploadHours === undefined ? {} : { abandonedUploadHours }),
  };
}

/**
 * Put a username into a prefix template. Names that could reach another
 * user's prefix (slashes, `..`) or make odd keys are refused, which fails the
 * login rather than serving the wrong folder.
 */
export function prefixForUser(template: string, username: string): string {
  if (
    username === "" || username === "." || username === ".." || /[/\\]/.test(username) ||
    [...username].some((char) => char.charCodeAt(0) < 0x20 || char === "\x7f")
  ) {
    throw new StorageError(
      "invalid_name",
      `User name ${JSON.stringify(username)} cannot be used in an S3 prefix`,
    );
  }
  return template.replaceAll(USERNAME_PLACEHOLDER, username);
}
