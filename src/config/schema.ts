/**
 * Every setting of exftp, once: its YAML key, the {@linkcode FtpServerOptions}
 * field it sets, its type and bounds, default, environment variable, CLI flag
 * and a line of documentation. The CLI's YAML/env/flag parsing, `--help`, the
 * server's option defaults and validation, and the README's options table all
 * come from this table ({@linkcode problemWith} holds the rules of each type).
 *
 * @module
 */

import { DEFAULT_MAX_LINE_BYTES } from "../control/line_reader.ts";
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

const PORT = { kind: "integer", min: 0, max: 65535 } as const;
const COUNT = { kind: "integer", min: 1, max: 1_000_000 } as const;
const SECONDS = { kind: "duration", unit: 1000 } as const;
const BYTES_PER_SECOND = { kind: "integer", min: 1, max: Number.MAX_SAFE_INTEGER } as const;

const TABLE = [
  {
    key: "ftp_port",
    option: "port",
    ...PORT,
    default: 4040,
    env: "FTP_PORT",
    flag: { name: "port", short: "p", arg: "N" },
    doc: "control port (0 = any free port, printed at start)",
  },
  {
    key: "ftp_addr",
    option: "hostname",
    kind: "address",
    default: "127.0.0.1",
    env: "FTP_ADDR",
    flag: { name: "addr", arg: "A" },
    doc: "address to listen on",
  },
  {
    key: "server_name",
    option: "serverName",
    kind: "text",
    default: "exftp",
    env: "FTP_SERVER_NAME",
    doc: "greeting `220 Hello from <name>.`",
  },
  {
    key: "min_passive_port",
    option: "minPassivePort",
    ...PORT,
    default: 40002,
    env: "MIN_PASSIVE_PORT",
    doc: "passive data ports (picked at random, busy ones skipped)",
  },
  {
    key: "max_passive_port",
    option: "maxPassivePort",
    ...PORT,
    default: 40012,
    env: "MAX_PASSIVE_PORT",
    doc: "",
  },
  {
    key: "passive_address",
    option: "passiveAddress",
    kind: "passive-address",
    shownDefault: "connected",
    env: "FTP_PASSIVE_ADDRESS",
    doc: "advertised in 227: IPv4 address, host name, `connected`, or rules per client network",
  },
  {
    key: "passive_port_sharing",
    option: "passivePortSharing",
    kind: "choice",
    values: ["off", "by_client_address"],
    default: "off",
    doc: "`by_client_address`: sessions of different addresses may share a passive port",
  },
  {
    key: "proxy_protocol",
    option: "proxyProtocol",
    kind: "proxy-protocol",
    shownDefault: "off",
    doc: "`{ from: [CIDR, …] }`: connections from these peers start with a PROXY header",
  },
  {
    key: "authenticator",
    kind: "text",
    default: "passthrough",
    env: "FTP_AUTHENTICATOR",
    doc: "`no_auth`, `passthrough`, or a module path/URL",
  },
  {
    key: "authenticator_config",
    kind: "mapping",
    shownDefault: "`{}`",
    doc: "options of that authenticator",
  },
  {
    key: "storage_connector",
    kind: "text",
    default: "file",
    env: "FTP_STORAGE",
    doc: "`file`, or a module path/URL",
  },
  {
    key: "storage_config",
    kind: "mapping",
    shownDefault: "`{}`",
    doc: "options of that connector (see Storage)",
  },
  {
    key: "storage_config.root",
    kind: "path",
    shownDefault: "`.`",
    flag: { name: "root", short: "r", arg: "DIR" },
    doc: "folder served by the `file` connector",
  },
  {
    key: "storages",
    option: "storages",
    kind: "mapping",
    shownDefault: "`{}`",
    doc: "named storages `{name: {connector, config}}` that profiles mount (see Per-user policy)",
  },
  {
    key: "upload_mode",
    kind: "choice",
    values: ["atomic", "atomic_resume", "direct"],
    shownDefault: "atomic",
    doc: "`atomic`, `atomic_resume` or `direct` (see Uploads)",
  },
  {
    key: "max_sessions",
    option: "maxSessions",
    ...COUNT,
    default: 100,
    doc: "sessions at once (421 at connect beyond)",
  },
  {
    key: "max_sessions_per_ip",
    option: "maxSessionsPerIp",
    ...COUNT,
    default: 10,
    doc: "sessions from one address (fleet-wide with `cluster`)",
  },
  {
    key: "max_sessions_per_user",
    option: "maxSessionsPerUser",
    ...COUNT,
    shownDefault: "unlimited",
    doc: "sessions of one user (421 at login; fleet-wide with `cluster`; see Running a fleet)",
  },
  {
    key: "login_timeout_s",
    option: "loginTimeoutMs",
    ...SECONDS,
    default: 60_000,
    doc: "time to log in after connecting",
  },
  {
    key: "idle_timeout_s",
    option: "idleTimeoutMs",
    ...SECONDS,
    default: 300_000,
    doc: "idle time before 421 (paused while a transfer runs)",
  },
  {
    key: "passive_accept_timeout_s",
    option: "passiveAcceptTimeoutMs",
    ...SECONDS,
    default: 30_000,
    doc:
      "time for the client to open the data connection, counted from PASV/EPSV (port freed after)",
  },
  {
    key: "data_stall_timeout_s",
    option: "dataStallTimeoutMs",
    ...SECONDS,
    default: 300_000,
    doc: "no byte moving for this long fails the transfer (426)",
  },
  {
    key: "download_bytes_per_s",
    option: "downloadBytesPerS",
    ...BYTES_PER_SECOND,
    shownDefault: "unlimited",
    doc: "download budget per user (all their sessions on this node) unless the profile sets one",
  },
  {
    key: "upload_bytes_per_s",
    option: "uploadBytesPerS",
    ...BYTES_PER_SECOND,
    shownDefault: "unlimited",
    doc: "upload budget per user, likewise",
  },
  {
    key: "login_failure_delay_ms",
    option: "loginFailureDelayMs",
    kind: "duration",
    unit: 1,
    zero: true,
    default: 1_000,
    doc: "delay before answering a failed login",
  },
  {
    key: "max_login_failures",
    option: "maxLoginFailures",
    ...COUNT,
    default: 3,
    doc: "failed logins before the session is closed",
  },
  {
    key: "ban_after_failures",
    option: "banAfterFailures",
    kind: "integer",
    min: 0,
    max: 1_000_000,
    default: 10,
    doc: "failed logins from one address within `ban_minutes` that ban it (421; 0 = never)",
  },
  {
    key: "ban_minutes",
    option: "banMs",
    kind: "duration",
    unit: 60_000,
    default: 900_000,
    doc: "that window, and how long a ban lasts",
  },
  {
    key: "shutdown_grace_s",
    option: "shutdownGraceMs",
    ...SECONDS,
    zero: true,
    default: 10_000,
    doc: "how long shutdown waits for running transfers",
  },
  {
    key: "log_format",
    kind: "choice",
    values: ["text", "json"],
    default: "text",
    flag: { name: "log-format", arg: "F" },
    doc: "`text` or `json` lines on stderr",
  },
  {
    key: "metrics_port",
    ...PORT,
    shownDefault: "off",
    flag: { name: "metrics-port", arg: "N" },
    doc: "serve `/metrics` (Prometheus) and `/healthz` on `ftp_addr`:N",
  },
  {
    key: "cluster",
    option: "cluster",
    kind: "mapping",
    shownDefault: "off",
    doc: "share bans and session counts with other nodes through Redis (see Running a fleet)",
  },
  {
    key: "tls",
    option: "tls",
    kind: "mapping",
    shownDefault: "off",
    doc: "FTPS: certificate, key, TLS version and policies (see FTPS)",
  },
  {
    key: "ftps_port",
    option: "implicitTlsPort",
    ...PORT,
    shownDefault: "off",
    doc: "port of a listener speaking TLS from the first byte (implicit FTPS, often 990)",
  },
  {
    key: "events",
    option: "events",
    kind: "mapping",
    shownDefault: "off",
    doc: "signed POSTs after uploads, deletes, logins…; a check before uploads (Event webhooks)",
  },
  {
    option: "maxLineBytes",
    kind: "integer",
    min: 64,
    max: 1 << 20,
    default: DEFAULT_MAX_LINE_BYTES,
    doc: "longest control line in bytes; longer ones get 500",
  },
] as const satisfies readonly Setting[];

/** Every setting, in the order of the README's table. */
export const SETTINGS: readonly Setting[] = TABLE;

/** Flags of the CLI itself (not settings). */
export const CLI_FLAGS = [
  { name: "config", short: "c", arg: "FILE", doc: "YAML file with these keys" },
  { name: "help", short: "h", doc: "show this help" },
  { name: "version", short: "V", doc: "print the version" },
] as const;

/** The keys of the `tls` section (see the README's FTPS part). */
export const TLS_SETTINGS: readonly Setting[] = [
  { key: "tls.cert", kind: "path", doc: "PEM file of the certificate chain" },
  { key: "tls.key", kind: "path", doc: "PEM file of the private key" },
  {
    key: "tls.min_version",
    kind: "choice",
    values: ["TLSv1.2", "TLSv1.3"],
    default: "TLSv1.2",
    doc: "the oldest TLS version accepted, on control and data connections",
  },
  {
    key: "tls.require_tls_for_login",
    kind: "boolean",
    doc: "USER/PASS before AUTH TLS get 530",
  },
  {
    key: "tls.require_tls_for_data",
    kind: "boolean",
    doc: "transfers under PROT C get 521",
  },
  {
    key: "tls.session_reuse",
    kind: "choice",
    values: ["off", "prefer", "require"],
    default: "off",
    doc: "data connections must resume the control session's TLS session",
  },
] as const satisfies readonly Setting[];

/** The keys of the `events` section (see the README's "Event webhooks"). */
export const EVENTS_SETTINGS: readonly Setting[] = [
  { key: "events.url", kind: "text", doc: "where events are POSTed (http or https)" },
  {
    key: "events.secret",
    kind: "text",
    doc: "HMAC-SHA256 key of the `X-Exftp-Signature` header (required)",
  },
  {
    key: "events.on",
    kind: "list",
    values: [
      "upload",
      "download",
      "delete",
      "rename",
      "mkdir",
      "rmdir",
      "login",
      "login_failed",
    ],
    shownDefault: "all",
    doc: "which events are sent",
  },
  {
    key: "events.timeout_ms",
    kind: "duration",
    unit: 1,
    default: 10_000,
    doc: "time for one request (an event, or the before-upload check)",
  },
  {
    key: "events.retries",
    kind: "integer",
    min: 0,
    max: 1_000_000,
    default: 25,
    doc: "retries of a failed delivery (back-off doubling to 5 min) before it is set aside",
  },
  {
    key: "events.retry_delay_ms",
    kind: "duration",
    unit: 1,
    default: 1_000,
    doc: "the first retry's delay",
  },
  {
    key: "events.outbox",
    kind: "path",
    default: "exftp-outbox",
    doc: "folder where events wait until delivered (one file each, kept across restarts)",
  },
  {
    key: "events.max_outbox",
    kind: "integer",
    min: 1,
    max: 10_000_000,
    default: 10_000,
    doc: "most events waiting; newer ones are dropped (logged) beyond",
  },
  {
    key: "events.concurrency",
    kind: "integer",
    min: 1,
    max: 1_000,
    default: 4,
    doc: "most deliveries in flight",
  },
  {
    key: "events.before_upload_url",
    kind: "text",
    doc: "asked before each upload: a refusal answers 553, no answer 451",
  },
] as const satisfies readonly Setting[];

/** The keys of the `cluster` section (see the README's "Running a fleet"). */
export const CLUSTER_SETTINGS: readonly Setting[] = [
  {
    key: "cluster.redis_url",
    kind: "text",
    doc: "`redis://[user:password@]host:port[/db]` (`rediss://` for TLS) of the shared Redis",
  },
  {
    key: "cluster.key_prefix",
    kind: "text",
    default: "exftp:",
    doc: "prepended to every key, so several fleets share one Redis",
  },
  {
    key: "cluster.slot_ttl_s",
    ...SECONDS,
    default: 30_000,
    doc: "a dead node's sessions stop counting after this long (live nodes renew every third)",
  },
] as const satisfies readonly Setting[];

/** A setting the server has as an option. */
export type OptionSetting = Extract<(typeof TABLE)[number], { option: string }>;

/** Top-level YAML keys (those a config file may contain). */
export const CONFIG_KEYS: readonly string[] = SETTINGS
  .map((setting) => setting.key)
  .filter((key): key is string => key !== undefined && !key.includes("."));

/** Environment variables and the YAML key each sets. */
export const ENV_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  SETTINGS.flatMap((setting) => setting.env ? [[setting.env, setting.key!]] : []),
);

/** The setting of a YAML key (`tls.` keys included). */
export function settingOfKey(key: string): Setting | undefined {
  return [...SETTINGS, ...TLS_SETTINGS, ...EVENTS_SETTINGS, ...CLUSTER_SETTINGS].find((setting) =>
    setting.key === key
  );
}

/** The setting of an option. */
export function settingOfOption(option: string): Setting | undefined {
  return SETTINGS.find((setting) => setting.option === option);
}

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
        !Array.isArray(value) || value.length === 0 ||
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

/** A problem between two settings: the first one's name starts the message. */
export interface CrossProblem {
  /** The setting the message is about. */
  setting: Setting;
  /** What is wrong, naming the other setting through `name`. */
  problem: string;
  /** The other setting is missing (a `TypeError` for options), not out of range. */
  missing?: boolean;
}

/**
 * The rules that join settings: the passive range, and implicit FTPS needing
 * TLS. `get` reads a setting's value (in option units), `name` spells another
 * setting as the caller's user knows it (YAML key or option name).
 */
export function crossProblems(
  get: (option: string) => unknown,
  name: (option: string) => string,
): CrossProblem | undefined {
  const min = get("minPassivePort") as number;
  const max = get("maxPassivePort") as number;
  const setting = settingOfOption("minPassivePort")!;
  if (min > max) {
    return {
      setting,
      problem: `(${min}) must not be greater than ${name("maxPassivePort")} (${max})`,
    };
  }
  if ((min === 0) !== (max === 0)) {
    return {
      setting,
      problem: `and ${name("maxPassivePort")} must both be 0 (any port) or neither`,
    };
  }
  if (get("implicitTlsPort") !== undefined && get("tls") === undefined) {
    return {
      setting: settingOfOption("implicitTlsPort")!,
      problem: `needs a ${name("tls")} section`,
      missing: true,
    };
  }
  return undefined;
}
