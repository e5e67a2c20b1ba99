/**
 * {@linkcode FtpServerOptions}: everything that configures a server, with
 * defaults and validation.
 *
 * @module
 */

import type { Authenticator } from "./auth/types.ts";
import type { StorageProvider } from "./storage/types.ts";
import { DEFAULT_MAX_LINE_BYTES } from "./control/line_reader.ts";
import type { TransferEventDetail } from "./events.ts";
import type { Logger } from "./log.ts";
import { type TlsOptions, TlsSettings } from "./tls.ts";
import { consoleLogger } from "./log.ts";

/**
 * The address advertised in PASV replies: a fixed IPv4 address or host name,
 * or a function of the client's address (e.g. inside and outside a NAT).
 */
export type PassiveAddress = string | ((clientAddress: string) => string | Promise<string>);

/**
 * Options of {@linkcode FtpServer}. `authenticator` and `storage` are required
 * (who may log in, and what they see, are never implied); every other field
 * has a default.
 */
export interface FtpServerOptions {
  /** Control port; 0 picks any free port. @default {4040} */
  port?: number;
  /** Address the control listener binds to. @default {"127.0.0.1"} */
  hostname?: string;
  /** Shown in the greeting `220 Hello from <name>.` @default {"exftp"} */
  serverName?: string;
  /** Lowest passive data port; `0` together with a max of `0` means any free port. @default {40002} */
  minPassivePort?: number;
  /** Highest passive data port. @default {40012} */
  maxPassivePort?: number;
  /** Address advertised in 227 replies. @default the control connection's local address */
  passiveAddress?: PassiveAddress;
  /**
   * Who may log in: a built-in authenticator (`UsersFileAuthenticator`,
   * `BasicAuthenticator`, `PassthroughAuthenticator` for local testing…) or
   * your own {@linkcode Authenticator}. Required.
   */
  authenticator: Authenticator;
  /**
   * Where the files live: a `StorageConnector` (`FileStorage`,
   * `MemoryStorage`, `S3Storage`, your own), or a function of the logged-in
   * user returning one (per-user folders). Required.
   */
  storage: StorageProvider;
  /** Longest control line in bytes; longer ones get 500. @default {4096} */
  maxLineBytes?: number;
  /** Most sessions at once (421 at connect beyond). @default {100} */
  maxSessions?: number;
  /** Most sessions from one IP address. @default {10} */
  maxSessionsPerIp?: number;
  /** Time to log in after connecting, in ms. @default {60000} */
  loginTimeoutMs?: number;
  /** Idle time before a session is closed, in ms; paused during transfers. @default {300000} */
  idleTimeoutMs?: number;
  /** Time for the client to open a passive data connection, in ms. @default {30000} */
  passiveAcceptTimeoutMs?: number;
  /** Time without a byte moving before a transfer fails with 426, in ms. @default {300000} */
  dataStallTimeoutMs?: number;
  /** Delay before answering a failed login, in ms. @default {1000} */
  loginFailureDelayMs?: number;
  /** Failed logins after which the session is closed. @default {3} */
  maxLoginFailures?: number;
  /**
   * Failed logins from one address within `banMs` that ban the address (421 at
   * connect) for `banMs`; 0 disables banning.
   * @default {10}
   */
  banAfterFailures?: number;
  /** The window in which failures count, and the length of a ban, in ms. @default {900000} */
  banMs?: number;
  /** Called after every completed or failed transfer and file operation (like the events). */
  onTransferComplete?: (detail: TransferEventDetail) => void;
  /** How long {@linkcode FtpServer.close} lets transfers finish, in ms. @default {10000} */
  shutdownGraceMs?: number;
  /** Where log lines go. @default human-readable lines on stderr */
  logger?: Logger;
  /** FTPS: explicit `AUTH TLS` on the control port (and implicit TLS with `implicitTlsPort`). */
  tls?: TlsOptions;
  /** Port of a second listener that speaks TLS from the first byte (implicit FTPS, often 990). */
  implicitTlsPort?: number;
}

/** Options with every default filled in. */
export type ResolvedOptions =
  & Required<
    Omit<FtpServerOptions, "passiveAddress" | "tls" | "implicitTlsPort" | "onTransferComplete">
  >
  & {
    onTransferComplete?: (detail: TransferEventDetail) => void;
    passiveAddress?: PassiveAddress;
    tls?: TlsSettings;
    implicitTlsPort?: number;
  };

/** The defaults of every option. */
export const DEFAULTS = {
  port: 4040,
  hostname: "127.0.0.1",
  serverName: "exftp",
  minPassivePort: 40002,
  maxPassivePort: 40012,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
  maxSessions: 100,
  maxSessionsPerIp: 10,
  loginTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  passiveAcceptTimeoutMs: 30_000,
  dataStallTimeoutMs: 300_000,
  loginFailureDelayMs: 1_000,
  maxLoginFailures: 3,
  banAfterFailures: 10,
  banMs: 900_000,
  shutdownGraceMs: 10_000,
} as const;

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Option "${name}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
}

/** Fill in defaults and validate; throws `RangeError`/`TypeError` naming the option. */
export function resolveOptions(options: FtpServerOptions): ResolvedOptions {
  const { tls, ...rest } = options;
  const resolved: ResolvedOptions = {
    ...DEFAULTS,
    authenticator: options.authenticator,
    storage: options.storage,
    logger: consoleLogger(),
    ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
    tls: tls ? new TlsSettings(tls) : undefined,
  };
  if (resolved.implicitTlsPort !== undefined) {
    checkInteger("implicitTlsPort", resolved.implicitTlsPort, 0, 65535);
    if (!resolved.tls) throw new TypeError(`Option "implicitTlsPort" needs "tls"`);
  }
  checkInteger("port", resolved.port, 0, 65535);
  checkInteger("minPassivePort", resolved.minPassivePort, 0, 65535);
  checkInteger("maxPassivePort", resolved.maxPassivePort, 0, 65535);
  if (resolved.minPassivePort > resolved.maxPassivePort) {
    throw new RangeError(
      `Option "minPassivePort" (${resolved.minPassivePort}) must not exceed "maxPassivePort" (${resolved.maxPassivePort})`,
    );
  }
  if ((resolved.minPassivePort === 0) !== (resolved.maxPassivePort === 0)) {
    throw new RangeError(`Options "minPassivePort" and "maxPassivePort" must both be 0 or neither`);
  }
  checkInteger("maxLineBytes", resolved.maxLineBytes, 64, 1 << 20);
  checkInteger("maxSessions", resolved.maxSessions, 1, 1_000_000);
  checkInteger("maxSessionsPerIp", resolved.maxSessionsPerIp, 1, 1_000_000);
  checkInteger("maxLoginFailures", resolved.maxLoginFailures, 1, 1_000_000);
  checkInteger("banAfterFailures", resolved.banAfterFailures, 0, 1_000_000);
  const mustBePositive = new Set([
    "loginTimeoutMs",
    "idleTimeoutMs",
    "passiveAcceptTimeoutMs",
    "dataStallTimeoutMs",
    "banMs",
  ]);
  for (
    const key of [
      "loginTimeoutMs",
      "idleTimeoutMs",
      "passiveAcceptTimeoutMs",
      "dataStallTimeoutMs",
      "loginFailureDelayMs",
      "shutdownGraceMs",
      "banMs",
    ] as const
  ) {
    const value = resolved[key];
    const min = mustBePositive.has(key) ? 1 : 0;
    if (typeof value !== "number" || !(value >= min) || value > 2 ** 31 - 1) {
      throw new RangeError(
        `Option "${key}" must be a number of milliseconds from ${min} to 2147483647, got ${
          JSON.stringify(value)
        }`,
      );
    }
  }
  if (typeof resolved.authenticator?.authenticate !== "function") {
    throw new TypeError(`Option "authenticator" must have an authenticate() method`);
  }
  if (typeof resolved.storage !== "function" && typeof resolved.storage?.stat !== "function") {
    throw new TypeError(`Option "storage" must be a StorageConnector or a function returning one`);
  }
  return resolved;
}
