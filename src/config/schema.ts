/**
 * Every setting of exftp, once: its YAML key, the {@linkcode FtpServerOptions}
 * field it sets, its type and bounds, default, environment variable, CLI flag
 * and a line of documentation. The CLI's YAML/env/flag parsing, `--help`, the
 * server's option defaults and validation, and the README's options table all
 * come from this table ({@linkcode problemWith} holds the rules of each type).
 *
 * @module
 */

import { CHECKSUM_ALGORITHMS } from "../checksums/algorithms.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../control/line_reader.ts";
import { BYTES_PER_SECOND, COUNT, PORT, SECONDS, type Setting } from "./setting.ts";
import { CLUSTER_SETTINGS, EVENTS_SETTINGS, TLS_SETTINGS } from "./sections.ts";

export * from "./setting.ts";
export * from "./sections.ts";

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
    key: "upload_checksums",
    option: "uploadChecksums",
    kind: "list",
    values: CHECKSUM_ALGORITHMS,
    emptyAllowed: true,
    shownDefault: "`[CRC32]`",
    doc: "checksums each whole-file upload computes and keeps (see Checksums; `[]`: none)",
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
