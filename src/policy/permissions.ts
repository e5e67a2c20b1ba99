/**
 * Per-folder permissions: what a user may do at a virtual path, from the
 * profile's `permissions` (the deepest folder at or above the path wins),
 * `read_only`, and read-only mounted folders. One function decides, for
 * every command and every connector.
 *
 * @module
 */

import type { FtpUser, Permission } from "../auth/types.ts";

/** A permission other than `*`. */
export type Action = Exclude<Permission, "*">;

/** The actions that change storage: none of them is left to a read-only user. */
export const CHANGE_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  "upload",
  "overwrite",
  "delete",
  "rename",
  "mkdir",
  "rmdir",
  "chmod",
]);

/** One thing a command needs: an action on a virtual path. */
export interface PermissionCheck {
  /** What it does. */
  readonly action: Action;
  /** Where (a clean absolute virtual path). */
  readonly path: string;
}

/** Why an action is refused. */
export type Refusal =
  | { readonly reason: "read-only account" }
  | { readonly reason: "read-only folder"; readonly folder: string }
  | { readonly reason: "not granted"; readonly folder?: string };

/** Whether `folder` is `path` or above it. */
export function isAtOrAbove(folder: string, path: string): boolean {
  return folder === "/" || folder === path || path.startsWith(folder + "/");
}

/** The deepest of `folders` at or above `path`, if any. */
export function deepestFolder(folders: Iterable<string>, path: string): string | undefined {
  let best: string | undefined;
  for (const folder of folders) {
    if (isAtOrAbove(folder, path) && (best === undefined || folder.length > best.length)) {
      best = folder;
    }
  }
  return best;
}

/**
 * Why `user` may not do `action` at `path`, or `undefined` when it may.
 * Without `permissions` everything is granted; with them, the entry of the
 * deepest folder at or above the path decides, and a path below no entry
 * is granted nothing. `read_only` (of the account, or of the mounted folder
 * the path is in) takes away every change.
 *
 * @example A drop box
 * ```ts
 * import { refusal } from "./permissions.ts";
 * const user = {
 *   username: "drop",
 *   permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
 * } as const;
 * console.assert(refusal(user, "upload", "/incoming/a.txt") === undefined);
 * console.assert(refusal(user, "upload", "/a.txt")?.reason === "not granted");
 * console.assert(refusal(user, "overwrite", "/incoming/a.txt")?.reason === "not granted");
 * ```
 */
export function refusal(user: FtpUser, action: Action, path: string): Refusal | undefined {
  if (CHANGE_ACTIONS.has(action)) {
    if (user.readOnly) return { reason: "read-only account" };
    const mounts = user.folders?.filter((mount) => mount.readOnly).map((mount) => mount.path);
    const folder = mounts && deepestFolder(mounts, path);
    // A writable mount deeper inside a read-only one is its own folder.
    if (folder !== undefined) {
      const inner = deepestFolder(user.folders!.map((mount) => mount.path), path);
      if (inner === folder) return { reason: "read-only folder", folder };
    }
  }
  const table = user.permissions;
  if (!table) return undefined;
  const folder = deepestFolder(Object.keys(table), path);
  if (folder === undefined) return { reason: "not granted" };
  const granted = table[folder];
  return granted.includes(action) || granted.includes("*")
    ? undefined
    : { reason: "not granted", folder };
}

/** Whether `user` may do `action` at `path`. */
export function allows(user: FtpUser | undefined, action: Action, path: string): boolean {
  return user === undefined || refusal(user, action, path) === undefined;
}

/** Whether the user's policy restricts anything (so checks need to be evaluated at all). */
export function hasRestrictions(user: FtpUser | undefined): boolean {
  return user !== undefined &&
    (user.readOnly === true || user.permissions !== undefined ||
      (user.folders?.some((mount) => mount.readOnly) ?? false));
}

/**
 * The RFC 3659 `perm` fact of an entry at `path`: what this user may do with
 * it (files: a, d, f, r, w; folders: c, d, e, f, l, m, p).
 */
export function permFact(user: FtpUser | undefined, path: string, type: "file" | "directory") {
  const can = (action: Action) => allows(user, action, path);
  if (type === "directory") {
    return (can("upload") ? "c" : "") + (can("rmdir") ? "d" : "") + "e" +
      (can("rename") ? "f" : "") + (can("list") ? "l" : "") + (can("mkdir") ? "m" : "") +
      (can("delete") ? "p" : "");
  }
  return (can("overwrite") ? "a" : "") + (can("delete") ? "d" : "") + (can("rename") ? "f" : "") +
    (can("download") ? "r" : "") + (can("overwrite") ? "w" : "");
}
