/**
 * The `tls` section of the config: certificate and key files, TLS version
 * and policies, into {@linkcode TlsOptions}.
 *
 * @module
 */

import * as path from "node:path";
import type { TlsOptions } from "../tls.ts";
import { ConfigError } from "./error.ts";
import { problemWith, type Setting, TLS_SETTINGS } from "./schema.ts";

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

/** A setting of the `tls` section by its key inside it. */
function tlsSetting(key: string): Setting | undefined {
  return TLS_SETTINGS.find((setting) => setting.key === `tls.${key}`);
}

/** One value of the `tls` section, checked (its default when unset). */
function tlsValue(tls: Record<string, unknown>, key: string, given = tls[key]): unknown {
  const setting = tlsSetting(key)!;
  const value = given ?? setting.default;
  if (value === undefined) return undefined;
  const problem = problemWith(setting, value);
  if (problem) throw new ConfigError(setting.key!, problem);
  return value;
}

/**
 * The `tls` section's options and the certificate files (the CLI reloads
 * them), or `undefined` without one.
 *
 * @param section the `tls` value, checked to be a mapping
 * @param baseDir where relative file names are resolved from
 */
export async function buildTls(
  section: Record<string, unknown> | undefined,
  baseDir: string,
): Promise<{ options: TlsOptions; files: { cert: string; key: string } } | undefined> {
  if (section === undefined) return undefined;
  const known = TLS_SETTINGS.map((setting) => setting.key!.slice("tls.".length));
  for (const key of Object.keys(section)) {
    if (!tlsSetting(key)) {
      throw new ConfigError(`tls.${key}`, `unknown key; known: ${known.join(", ")}`);
    }
  }
  const files = { cert: "", key: "" };
  for (const key of ["cert", "key"] as const) {
    const value = section[key];
    if (typeof value !== "string" || value === "") {
      throw new ConfigError(`tls.${key}`, "must name a PEM file");
    }
    files[key] = path.resolve(baseDir, value);
  }
  const minVersion = tlsValue(section, "min_version") as TlsOptions["minVersion"];
  // YAML 1.1 readers turn a bare `off` into false.
  const reuse = section.session_reuse === false ? "off" : section.session_reuse;
  const sessionReuse = tlsValue(section, "session_reuse", reuse) as TlsOptions["sessionReuse"];
  return {
    files,
    options: {
      cert: await readPemFile("tls.cert", files.cert),
      key: await readPemFile("tls.key", files.key),
      minVersion,
      requireTlsForLogin: tlsValue(section, "require_tls_for_login") as boolean | undefined,
      requireTlsForData: tlsValue(section, "require_tls_for_data") as boolean | undefined,
      sessionReuse,
    },
  };
}
