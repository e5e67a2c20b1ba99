/**
 * What a setting is (its kind, bounds, default, env name, flag and doc line)
 * and the one rule of each kind ({@linkcode problemWith}); the tables of
 * settings built from these are in `schema.ts` and `sections.ts`.
 *
 * @module
 */

import { passiveRulesProblem, proxyProtocolProblem } from "../proxy/settings.ts";

/**
 * How a value is read and checked:
 * - `integer`: a whole number from `min` to `max`;
 * - `duration`: a number in the key's unit (`unit` ms each), kept in ms, above 0
 *   (or at least 0 with `zero`), at most 2^31-1 ms (a timer's limit);
 * - `text`: a non-empty string; `address`: a listen address; `choice`: one of `values`;
 * - `list`: a list of some of `values` (a comma-separated string from the environment);
 * - `passive-address`: an IPv4 address or host name (resolved by the CLI at start),
 *   `connected` (the address the client connected to), or a list of
 *   `{ networks: [CIDR, …], address }` rules, the first whose networks hold the
 *   client's address applying (a rule without `networks` matches everyone);
 * - `proxy-protocol`: `{ from: [CIDR, …] }`, the peers whose connections start
 *   with a PROXY header;
 * - `mapping`: a YAML mapping (the options of a plug-in, or the `tls` section);
 * - `boolean`: true or false;
 * - `path`: a path; from a flag it is relative to the working folder.
 */
export type SettingKind =
  | "integer"
  | "duration"
  | "text"
  | "address"
  | "passive-address"
  | "proxy-protocol"
  | "choice"
  | "list"
  | "mapping"
  | "boolean"
  | "path";

/** A CLI flag: `--name ARG`, optionally `-short`. */
export interface FlagSpec {
  /** Long name, without the dashes. */
  readonly name: string;
  /** One-letter alias. */
  readonly short?: string;
  /** The argument's placeholder in docs (`N`, `DIR`). */
  readonly arg: string;
}

/** One setting. */
export interface Setting {
  /** YAML key, dotted inside a mapping (`storage_config.root`); none for options only. */
  readonly key?: string;
  /** The {@linkcode FtpServerOptions} field it sets; none for CLI-only keys. */
  readonly option?: string;
  /** Type and rules, see {@linkcode SettingKind}. */
  readonly kind: SettingKind;
  /** `integer` bounds. */
  readonly min?: number;
  /** `integer` bounds. */
  readonly max?: number;
  /** `duration`: milliseconds per unit of the YAML value (1000 for `_s`). */
  readonly unit?: number;
  /** `duration`: 0 is allowed (no wait) rather than refused. */
  readonly zero?: boolean;
  /** `choice`: the allowed values. */
  readonly values?: readonly string[];
  /** `list`: an empty list is allowed (it means none). */
  readonly emptyAllowed?: boolean;
  /** The default, in the option's unit (ms for durations). */
  readonly default?: number | string;
  /** How the default reads in docs when it is not a plain value (`local address`). */
  readonly shownDefault?: string;
  /** Environment variable that sets it. */
  readonly env?: string;
  /** CLI flag that sets it. */
  readonly flag?: FlagSpec;
  /** One line for `--help` and the README (Markdown code spans allowed). */
  readonly doc: string;
}

export const PORT = { kind: "integer", min: 0, max: 65535 } as const;
export const COUNT = { kind: "integer", min: 1, max: 1_000_000 } as const;
export const SECONDS = { kind: "duration", unit: 1000 } as const;
export const BYTES_PER_SECOND = { kind: "integer", min: 1, max: Number.MAX_SAFE_INTEGER } as const;

/** The largest delay a timer takes (ms): a larger one fires at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * What is wrong with a value of a setting, in words that follow its name
 * (`must be a whole number from 0 to 65535, got 70000`), or `undefined` when
 * it is fine. The one rule of each kind, for the YAML file, the environment,
 * flags and programmatic options alike. `value` is in the option's unit
 * (ms for durations); `shown` is what the user wrote, quoted in the message.
 */
export function problemWith(
  setting: Setting,
  value: unknown,
  shown: unknown = value,
): string | undefined {
  const got = JSON.stringify(shown);
  switch (setting.kind) {
    case "integer": {
      const { min = 0, max = Number.MAX_SAFE_INTEGER } = setting;
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        return `must be a whole number from ${min} to ${max}, got ${got}`;
      }
      return undefined;
    }
    case "duration": {
      // 0 ms closes every session at once for a timeout: only delays may be 0.
      if (
        typeof value !== "number" || !Number.isFinite(value) || value < 0 ||
        (!setting.zero && value < 1)
      ) {
        return `must be a number ${setting.zero ? "of at least" : "above"} 0, got ${got}`;
      }
      if (Math.round(value) > MAX_DELAY_MS) return `is too large (${shown})`;
      return undefined;
    }
    case "choice":
      if (!setting.values!.includes(value as string)) {
        const values = setting.values!;
        return `must be ${values.slice(0, -1).join(", ")} or ${values.at(-1)}, got ${got}`;
      }
      return undefined;
    case "list":
      if (
        !Array.isArray(value) || (value.length === 0 && !setting.emptyAllowed) ||
        value.some((item) => !setting.values!.includes(item))
      ) {
        return `must be a list of some of ${setting.values!.join(", ")}, got ${got}`;
      }
      return undefined;
    case "mapping":
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return `must be a mapping, got ${got}`;
      }
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : `must be true or false, got ${got}`;
    case "passive-address":
      if (typeof value !== "string") return passiveRulesProblem(value);
      return value.trim() === "" ? `must be a non-empty string, got ${got}` : undefined;
    case "proxy-protocol":
      return proxyProtocolProblem(value, MAX_DELAY_MS);
    case "address":
      if (typeof value === "string" && value.trim() !== "" && !/^[\w.:%-]+$/.test(value)) {
        return `is not an address: ${got}`;
      }
      // falls through: otherwise the rule of text
    default:
      if (typeof value !== "string" || value.trim() === "") {
        return `must be a non-empty string, got ${got}`;
      }
      return undefined;
  }
}
