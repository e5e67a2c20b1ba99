/**
 * Virtual paths: what the client names, resolved against the session's
 * current folder into a clean absolute POSIX path that never contains `..`.
 * Connectors only ever see such paths.
 *
 * @module
 */

import * as posix from "node:path/posix";
import { FtpError } from "./errors.ts";

/**
 * Resolve a client-supplied path against the current virtual folder.
 *
 * The result is absolute, normalised, has no trailing slash (except `/`) and
 * cannot climb above `/`: `..` at the top stays at the top, like `cd ..` in
 * `/` does in a shell. Names with CR, LF or NUL are refused with 553, since
 * they could never be written back to the client safely.
 *
 * @example
 * ```ts
 * import { resolveVirtualPath } from "./paths.ts";
 * resolveVirtualPath("/home", "../etc/passwd"); // "/etc/passwd"
 * resolveVirtualPath("/", "../../x"); // "/x"
 * ```
 */
export function resolveVirtualPath(cwd: string, argument: string): string {
  if (/[\r\n\0]/.test(argument)) {
    throw new FtpError(553, "File name not allowed: it contains a line break or NUL");
  }
  const joined = argument.startsWith("/") ? argument : `${cwd}/${argument}`;
  const resolved = posix.normalize(joined);
  // normalize() keeps leading ".." segments of an absolute path out already,
  // and turns "//" into "/"; strip the trailing slash for one spelling per path.
  const clean = resolved.length > 1 && resolved.endsWith("/") ? resolved.slice(0, -1) : resolved;
  return clean === "" || clean === "." ? "/" : clean;
}

/** The last segment of a virtual path (`""` for `/`). */
export function baseName(path: string): string {
  return posix.basename(path);
}

/** The parent folder of a virtual path (`/` for `/`). */
export function parentPath(path: string): string {
  return posix.dirname(path);
}

/** Join a virtual folder and a plain name. */
export function joinPath(folder: string, name: string): string {
  return folder === "/" ? `/${name}` : `${folder}/${name}`;
}
