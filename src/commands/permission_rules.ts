/**
 * The usual {@linkcode PermissionRule}s of the command table: one action on
 * the argument's path, and the upload rule (`upload` for a new file,
 * `overwrite` for an existing one).
 *
 * @module
 */

import { type Action, allows } from "../policy/permissions.ts";
import type { PermissionRule } from "./context.ts";

/** `action` on the path the argument names (`.` when there is none, as for MLSD). */
export function onPath(action: Action): PermissionRule {
  return {
    actions: [action],
    checks: (context, argument) => [{
      action,
      path: context.resolvePath(argument || "."),
    }],
  };
}

/**
 * Storing at the argument's path: `upload` when nothing is there, `overwrite`
 * when a file is (appending and resuming change it too). The storage is only
 * asked when the two answers differ.
 */
export const UPLOAD_RULE: PermissionRule = {
  actions: ["upload", "overwrite"],
  async checks(context, argument) {
    const path = context.resolvePath(argument);
    const user = context.user;
    if (allows(user, "upload", path) === allows(user, "overwrite", path)) {
      return [{ action: "upload", path }];
    }
    const exists = await context.storage.stat(path).then(() => true, () => false);
    return [{ action: exists ? "overwrite" : "upload", path }];
  },
};
