/**
 * How exftp was started, so that `--help` and the permission hints show a
 * command the user can actually type: `deno run … jsr:@exftp/server`,
 * `deno run … main.ts`, `deno run … exftp.js` (the bundle) or `exftp` (a
 * compiled executable).
 *
 * A `deno install -g -n exftp … jsr:@exftp/server` shim runs exactly
 * `deno run … jsr:@exftp/server` (measured with Deno 2.9.6: the same
 * `Deno.mainModule`, nothing else visible without extra permissions), so a
 * JSR start names the installed command beside the JSR one.
 *
 * @module
 */

import * as path from "node:path";

/** Where the running program came from. */
export type InvocationKind = "jsr" | "source" | "bundle" | "executable" | "other";

/** How exftp was started. */
export interface Invocation {
  /** Where the running program came from. */
  kind: InvocationKind;
  /**
   * What follows `deno run PERMISSIONS` to start it again (`jsr:@exftp/server`,
   * `main.ts`, `exftp.js`); for a compiled executable, the executable itself.
   */
  target: string;
}

/** What a caller knows about the running program (the process's own by default). */
export interface InvocationSource {
  /** `Deno.mainModule`. */
  mainModule: string;
  /** `Deno.build.standalone`: a `deno compile` executable. */
  standalone: boolean;
  /** The working folder, to show a local script by a relative path. */
  cwd: string;
  /** `Deno.execPath()`: the executable, when compiled. */
  execPath: string;
}

function processSource(): InvocationSource {
  let cwd = "";
  try {
    cwd = Deno.cwd();
  } catch {
    // No permission to know it: show full paths.
  }
  return {
    mainModule: Deno.mainModule,
    standalone: Deno.build.standalone ?? false,
    cwd,
    execPath: Deno.execPath(),
  };
}

/** How exftp was started: from JSR, from source, as the bundle, or compiled. */
export function invocation(source: InvocationSource = processSource()): Invocation {
  const { mainModule, standalone, cwd } = source;
  if (standalone) return { kind: "executable", target: path.basename(source.execPath) };
  if (mainModule.startsWith("jsr:")) return { kind: "jsr", target: mainModule };
  if (mainModule.startsWith("file:")) {
    const file = decodeURIComponent(new URL(mainModule).pathname);
    const relative = cwd ? path.relative(cwd, file) : "";
    const shown = relative && !relative.startsWith("..") ? relative : file;
    const kind = /\.(ts|mts|tsx)$/.test(file) ? "source" : "bundle";
    return { kind, target: shown };
  }
  return { kind: "other", target: mainModule };
}

/** The folder-serving permission flags, with `DIR` as the folder. */
export const FOLDER_PERMISSIONS = "--allow-read=DIR --allow-write=DIR";

/**
 * The command that starts exftp the way it was started, with `permissions`
 * (Deno flags, ignored by a compiled executable, whose permissions are built
 * in) and `args` (exftp's own).
 *
 * @example
 * ```ts
 * import { invocationHint } from "./invocation.ts";
 * const line = invocationHint("--allow-net", "--root DIR", {
 *   mainModule: "jsr:@exftp/server",
 *   standalone: false,
 *   cwd: "/home/me",
 *   execPath: "/usr/bin/deno",
 * });
 * // line === "deno run --allow-net jsr:@exftp/server --root DIR"
 * ```
 */
export function invocationHint(
  permissions: string,
  args = "",
  source?: InvocationSource,
): string {
  const { kind, target } = invocation(source);
  const words = kind === "executable"
    ? [target, args]
    : ["deno run", permissions, /\s/.test(target) ? JSON.stringify(target) : target, args];
  return words.filter((word) => word !== "").join(" ");
}

/** The usage lines of `--help`, for the way exftp was started. */
export function usageLines(source?: InvocationSource): string {
  const { kind } = invocation(source);
  const serve = invocationHint(
    `--allow-net ${FOLDER_PERMISSIONS} --allow-env`,
    "--root DIR [options]",
    source,
  );
  const lines = [`  ${serve}`];
  if (kind !== "executable") {
    // A compiled executable has its permissions built in: it always serves a folder.
    lines.push(
      `  ${invocationHint("--allow-net", "[options]", source)}   serve an in-memory folder`,
    );
  }
  lines.push(`  ${invocationHint("", "hash-password [--iterations N]", source)}   hash a password`);
  if (kind === "jsr") {
    lines.push(
      "  (installed with `deno install -g -n exftp --allow-… jsr:@exftp/server`: exftp [options])",
    );
  }
  return lines.join("\n");
}
