/**
 * Where the CLI's raw configuration comes from: a YAML file, environment
 * variables and flags, each read by the settings table ({@linkcode SETTINGS}).
 *
 * @module
 */

import * as path from "node:path";
import { ConfigError } from "./error.ts";
import { CLI_FLAGS, ENV_KEYS, SETTINGS } from "./schema.ts";

/** The raw configuration, keyed as in the YAML file. */
export type RawConfig = Record<string, unknown>;

/** Parse YAML text into a raw config (a mapping at the top). */
export async function parseConfigText(text: string, source: string): Promise<RawConfig> {
  // js-yaml rather than npm:yaml: the latter reads LOG_TOKENS/LOG_STREAM from the
  // environment while parsing, which would force --allow-env on every config file.
  const { load } = await import("js-yaml");
  if (text.replace(/#.*$/gm, "").trim() === "") return {}; // empty or only comments
  let value: unknown;
  try {
    value = load(text);
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    throw new ConfigError(source, `not valid YAML: ${message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(source, "must be a mapping of keys to values");
  }
  return value as RawConfig;
}

/** Read and parse a YAML config file. */
export async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(
        "--config",
        `no permission to read "${path}": add --allow-read=${path}`,
      );
    }
    throw new ConfigError("--config", `can't read "${path}": ${(error as Error).message}`);
  }
  return await parseConfigText(text, path);
}

/** The config keys set by environment variables (only those Deno lets us read). */
export function configFromEnv(env: (name: string) => string | undefined): RawConfig {
  const raw: RawConfig = {};
  for (const [variable, key] of Object.entries(ENV_KEYS)) {
    const value = env(variable);
    if (value !== undefined && value !== "") raw[key] = value;
  }
  return raw;
}

/** Read environment variables where permitted, silently skipping the others. */
export function permittedEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name);
}

/** The flags of the CLI, as `node:util`'s `parseArgs` takes them. */
export function flagOptions(): Record<string, { type: "string" | "boolean"; short?: string }> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  const flags = [
    ...CLI_FLAGS.map((flag) => ({ ...flag, string: "arg" in flag })),
    ...SETTINGS.flatMap((setting) => setting.flag ? [{ ...setting.flag, string: true }] : []),
  ];
  for (const { name, short, string } of flags) {
    options[name] = { type: string ? "string" : "boolean", ...short ? { short } : {} };
  }
  return options;
}

/**
 * `raw` with the settings given as flags put over it. A flag's path is the
 * caller's: relative to the working folder, not to the config file's.
 */
export function withFlags(raw: RawConfig, flags: Record<string, unknown>): RawConfig {
  const merged: RawConfig = { ...raw };
  for (const setting of SETTINGS) {
    const value = setting.flag && flags[setting.flag.name];
    if (value === undefined || value === false) continue;
    const given = setting.kind === "path" ? path.resolve(String(value)) : value;
    const [key, inner] = setting.key!.split(".");
    merged[key] = inner === undefined
      ? given
      : { ...(merged[key] as object ?? {}), [inner]: given };
  }
  return merged;
}
