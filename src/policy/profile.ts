/**
 * The user profile: what an authentication service (or a `users_file` entry)
 * says about a user beyond "yes" — home, permissions per folder, quotas,
 * bandwidth, session limit, mounted folders — read from snake_case JSON/YAML
 * into the camelCase {@linkcode FtpUser} fields, all or nothing.
 *
 * @module
 */

import type { FolderMount, FtpUser, Permission } from "../auth/types.ts";
import { resolveVirtualPath } from "../paths.ts";

/** Every permission a profile may grant, `*` standing for all of them. */
export const PERMISSIONS: readonly Permission[] = [
  "list",
  "download",
  "upload",
  "overwrite",
  "delete",
  "rename",
  "mkdir",
  "rmdir",
  "chmod",
  "*",
];

/**
 * A profile field that is wrong: the login is refused (never a partial
 * policy) and the log line names {@linkcode field}.
 *
 * @example
 * ```ts
 * import { parseProfile, ProfileError } from "./profile.ts";
 * try {
 *   parseProfile({ quota_bytes: -1 }, "alice");
 * } catch (error) {
 *   console.assert(error instanceof ProfileError && error.field === "quota_bytes");
 * }
 * ```
 */
export class ProfileError extends Error {
  /** The field, as written in the profile (`folders[0].path`). */
  readonly field: string;
  /** What is wrong with it. */
  readonly problem: string;

  /** Make one for `field`. */
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "ProfileError";
    this.field = field;
    this.problem = problem;
  }
}

type Reader = (value: unknown, field: string) => unknown;

function wholeNumber(min: number): Reader {
  return (value, field) => {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw new ProfileError(
        field,
        `must be a whole number of at least ${min}, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") {
    throw new ProfileError(field, `must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "" || /[\0\r\n]/.test(value)) {
    throw new ProfileError(field, "must be a non-empty string on one line");
  }
  return value;
}

/** An absolute virtual folder, made clean (`/a//b/` → `/a/b`). */
function folderPath(value: unknown, field: string): string {
  if (typeof value !== "string" || !value.startsWith("/") || /[\0\r\n]/.test(value)) {
    throw new ProfileError(field, `must be an absolute folder such as /incoming`);
  }
  // `..` or `.` segments would make the key mean another folder than written.
  if (value.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new ProfileError(field, `must not contain . or .. segments, got ${value}`);
  }
  return resolveVirtualPath("/", value);
}

function permissions(value: unknown, field: string): Record<string, readonly Permission[]> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProfileError(field, 'must map folders to lists, e.g. {"/": ["list", "download"]}');
  }
  const result: Record<string, readonly Permission[]> = {};
  for (const [folder, granted] of Object.entries(value)) {
    const where = `${field}[${JSON.stringify(folder)}]`;
    const path = folderPath(folder, where);
    if (Object.hasOwn(result, path)) throw new ProfileError(where, `${path} appears twice`);
    if (!Array.isArray(granted)) throw new ProfileError(where, "must be a list of permissions");
    for (const [index, name] of granted.entries()) {
      if (!PERMISSIONS.includes(name)) {
        throw new ProfileError(
          `${where}[${index}]`,
          `unknown permission ${JSON.stringify(name)}; known: ${PERMISSIONS.join(", ")}`,
        );
      }
    }
    result[path] = Object.freeze([...new Set(granted as Permission[])]);
  }
  return result;
}

const FOLDER_KEYS = ["path", "storage", "read_only"];

function folders(value: unknown, field: string): FolderMount[] {
  if (!Array.isArray(value)) {
    throw new ProfileError(field, "must be a list of {path, storage, read_only}");
  }
  const seen = new Set<string>();
  return value.map((item: unknown, index) => {
    const where = `${field}[${index}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new ProfileError(where, "must be a mapping {path, storage, read_only}");
    }
    const record = item as Record<string, unknown>;
    const unknown = Object.keys(record).find((key) => !FOLDER_KEYS.includes(key));
    if (unknown !== undefined) {
      throw new ProfileError(
        `${where}.${unknown}`,
        `unknown key; known: ${FOLDER_KEYS.join(", ")}`,
      );
    }
    const path = folderPath(record.path, `${where}.path`);
    if (path === "/") throw new ProfileError(`${where}.path`, "can't mount over /");
    if (seen.has(path)) throw new ProfileError(`${where}.path`, `${path} is mounted twice`);
    seen.add(path);
    const mount: FolderMount = { path, storage: text(record.storage, `${where}.storage`) };
    if (record.read_only !== undefined && record.read_only !== null) {
      mount.readOnly = boolean(record.read_only, `${where}.read_only`);
    }
    return mount;
  });
}

/** The profile fields: snake_case name → the FtpUser field and its reader. */
const FIELDS: Readonly<Record<string, { to: keyof FtpUser & string; read: Reader }>> = {
  username: { to: "username", read: text },
  home: { to: "home", read: folderPathOrStorageFolder },
  read_only: { to: "readOnly", read: boolean },
  permissions: { to: "permissions", read: permissions },
  quota_bytes: { to: "quotaBytes", read: wholeNumber(0) },
  quota_files: { to: "quotaFiles", read: wholeNumber(0) },
  max_upload_bytes: { to: "maxUploadBytes", read: wholeNumber(0) },
  download_bytes_per_s: { to: "downloadBytesPerS", read: wholeNumber(1) },
  upload_bytes_per_s: { to: "uploadBytesPerS", read: wholeNumber(1) },
  max_sessions: { to: "maxSessions", read: wholeNumber(1) },
  folders: { to: "folders", read: folders },
};

/** The profile fields a service may send. */
export const PROFILE_FIELDS: readonly string[] = Object.keys(FIELDS);

/** `home` is a folder of the storage (relative ones are taken from its root). */
function folderPathOrStorageFolder(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "" || /[\0\r\n]/.test(value)) {
    throw new ProfileError(field, "must be a folder path such as /alice");
  }
  return value;
}

/** Names an extra field may not have: FtpUser's own fields, and prototype keys. */
const RESERVED = new Set<string>([
  ...Object.values(FIELDS).map(({ to }) => to),
  "__proto__",
  "constructor",
  "prototype",
]);

/**
 * Read a profile (a JSON object from an auth service, or a `users_file`
 * entry) into a user. Every field is optional; `null` counts as absent.
 * Unknown fields are kept as they are for custom connectors, but may not
 * take the name of a typed field (`readOnly` would bypass `read_only`'s
 * check). Nothing is returned unless every field is right.
 *
 * @param value the parsed profile
 * @param username the name to use when the profile names none
 * @throws {ProfileError} naming the first wrong field
 *
 * @example A drop box: everyone may look, uploads go to /incoming only
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * const user = parseProfile({
 *   permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
 *   quota_bytes: 1_000_000,
 * }, "alice");
 * console.assert(user.username === "alice" && user.quotaBytes === 1_000_000);
 * ```
 */
export function parseProfile(value: unknown, username: string): FtpUser {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProfileError("(profile)", "must be a JSON object");
  }
  const user: FtpUser = { username };
  for (const [key, raw] of Object.entries(value)) {
    const field = Object.hasOwn(FIELDS, key) ? FIELDS[key] : undefined;
    if (field) {
      if (raw !== null && raw !== undefined) user[field.to] = field.read(raw, key);
      continue;
    }
    if (RESERVED.has(key)) {
      const known = Object.entries(FIELDS).find(([, { to }]) => to === key)?.[0];
      throw new ProfileError(key, known ? `unknown field; did you mean ${known}?` : "not allowed");
    }
    user[key] = raw;
  }
  return user;
}

/**
 * The profile in the body of an auth service's yes: a body that is a JSON
 * object (whatever the Content-Type says: a service that forgot it must not
 * lose its `read_only`) is the profile; any other body (`ok`, empty) is
 * none. A body that starts like JSON and isn't an object is a problem (the
 * login is refused).
 */
export function profileOfBody(
  body: string,
): { profile?: Record<string, unknown> } | { problem: string } {
  const text = body.trim();
  if (!text.startsWith("{") && !text.startsWith("[")) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON (${(error as Error).message.slice(0, 100)})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problem: "must be a JSON object" };
  }
  return { profile: value as Record<string, unknown> };
}
