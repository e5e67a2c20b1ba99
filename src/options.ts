/**
 * {@linkcode FtpServerOptions}: everything that configures a server, with
 * defaults and validation.
 *
 * @module
 */

import type { Authenticator } from "./auth/types.ts";
import type { ChecksumAlgorithm } from "./checksums/algorithms.ts";
import type { ClusterOptions } from "./cluster/options.ts";
import type { SharedState } from "./cluster/state.ts";
import type { StorageProvider } from "./storage/types.ts";
import { crossProblems, type OptionSetting, problemWith, SETTINGS } from "./config/schema.ts";
import type { TransferEventDetail } from "./events.ts";
import type { EventWebhookOptions } from "./webhooks/options.ts";
import type { Logger } from "./log.ts";
import { type TlsOptions, TlsSettings } from "./tls.ts";
import { consoleLogger } from "./log.ts";

/**
 * The address advertised in PASV replies: a fixed IPv4 address or host name;
 * `"connected"`, the address the client connected to (the PROXY header's
 * destination behind a balancer, else the control connection's local
 * address); a list of {@linkcode PassiveAddressRule}s, the first whose
 * networks hold the client's address applying; or a function of the client's
 * address.
 */
export type PassiveAddress =
  | string
  | readonly PassiveAddressRule[]
  | ((clientAddress: string) => string | Promise<string>);

/**
 * One rule of a per-network passive address: clients in `networks` are told
 * `address` (an IPv4 address, host name or `"connected"`). A rule without
 * `networks` matches every client: put it last as the default.
 */
export interface PassiveAddressRule {
  /** Client networks in CIDR notation (`10.0.0.0/8`); none: every client. */
  readonly networks?: readonly string[];
  /** What to advertise to them. */
  readonly address: string;
}

/**
 * PROXY protocol (HAProxy's v1 text or v2 binary header, both accepted):
 * connections from `from` must start with a header naming the real client,
 * or are closed; other peers are never read as PROXY.
 */
export interface ProxyProtocolOptions {
  /** The balancers' addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`). */
  readonly from: readonly string[];
  /** How long a trusted peer has to send the whole header, in ms. @default {5000} */
  readonly headerTimeoutMs?: number;
}

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
  /** Address advertised in 227 replies. @default {"connected"} the address the client connected to */
  passiveAddress?: PassiveAddress;
  /**
   * `"by_client_address"`: sessions from different client addresses may wait
   * on the same passive port (each connection goes to the waiting session of
   * its source address; one address never has two sessions on a port), so a
   * small range serves many clients.
   * @default {"off"}
   */
  passivePortSharing?: "off" | "by_client_address";
  /** Read PROXY headers from these peers; see {@linkcode ProxyProtocolOptions}. */
  proxyProtocol?: ProxyProtocolOptions;
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
  /**
   * Named storages that user profiles mount as virtual folders (`folders:
   * [{ path: "/archive", storage: "archive" }]`). @default {{}}
   */
  storages?: Readonly<Record<string, StorageProvider>>;
  /** Longest control line in bytes; longer ones get 500. @default {4096} */
  maxLineBytes?: number;
  /** Most sessions at once (421 at connect beyond). @default {100} */
  maxSessions?: number;
  /** Most sessions from one IP address (across the fleet with `cluster`). @default {10} */
  maxSessionsPerIp?: number;
  /**
   * Most sessions of one user, checked at login (421 beyond; across the fleet
   * with `cluster`). A user's own `maxSessions` (from the authenticator)
   * overrides it. @default unlimited
   */
  maxSessionsPerUser?: number;
  /**
   * Be one node of a fleet: failed-login counts, bans and session counts are
   * shared through Redis. Without it, they live in this process. A Redis
   * outage degrades to local state, never to refusing service.
   */
  cluster?: ClusterOptions;
  /**
   * The shared state to use instead of opening one from `cluster` (your own
   * {@linkcode SharedState}; the caller closes it). @default {in-process state, or Redis with `cluster`}
   */
  sharedState?: SharedState;
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
  /**
   * Event webhooks: a signed JSON POST after each upload, download, delete,
   * rename, folder change and login, delivered at least once from a durable
   * outbox, and an optional check before each upload (see the README).
   */
  events?: EventWebhookOptions;
  /**
   * Download budget per user in bytes per second, shared by the user's
   * sessions on this node, for users whose profile sets none. @default unlimited
   */
  downloadBytesPerS?: number;
  /** Upload budget per user, like {@linkcode downloadBytesPerS}. @default unlimited */
  uploadBytesPerS?: number;
  /**
   * The checksums every upload of a whole file computes while it streams and
   * the connector keeps, so HASH and the X-commands answer them without
   * reading the file; others are computed by reading the file when asked.
   * SHA-256 costs about 0.5 CPU s per GiB uploaded, CRC32 almost nothing.
   * @default {["CRC32"]}
   */
  uploadChecksums?: readonly ChecksumAlgorithm[];
}

/** Options with every default filled in. */
export type ResolvedOptions =
  & Required<
    Omit<
      FtpServerOptions,
      | "passiveAddress"
      | "tls"
      | "implicitTlsPort"
      | "onTransferComplete"
      | "storages"
      | "events"
      | "maxSessionsPerUser"
      | "cluster"
      | "downloadBytesPerS"
      | "uploadBytesPerS"
      | "sharedState"
      | "proxyProtocol"
      | "uploadChecksums"
    >
  >
  & {
    storages?: Readonly<Record<string, StorageProvider>>;
    maxSessionsPerUser?: number;
    cluster?: ClusterOptions;
    downloadBytesPerS?: number;
    uploadBytesPerS?: number;
    sharedState?: SharedState;
    proxyProtocol?: ProxyProtocolOptions;
    uploadChecksums?: readonly ChecksumAlgorithm[];
    onTransferComplete?: (detail: TransferEventDetail) => void;
    passiveAddress?: PassiveAddress;
    tls?: TlsSettings;
    implicitTlsPort?: number;
    events?: EventWebhookOptions;
  };

// Every option the settings table names is a field of FtpServerOptions (else no type check).
const _optionsAreFields: OptionSetting["option"] extends keyof FtpServerOptions ? true : never =
  true;

type Defaulted = Extract<OptionSetting, { default: unknown }>;

/** The defaults of every option that has one (from the settings table). */
export const DEFAULTS: Readonly<
  Required<Pick<FtpServerOptions, Defaulted["option"]>>
> = Object.fromEntries(
  SETTINGS.flatMap((setting) =>
    setting.option && setting.default !== undefined ? [[setting.option, setting.default]] : []
  ),
) as never;

/**
 * Fill in defaults and validate, by the same rules as the CLI's config
 * (the settings table); throws `RangeError`/`TypeError` naming the option.
 */
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
  const values = resolved as unknown as Record<string, unknown>;
  for (const setting of SETTINGS) {
    const value = setting.option === undefined ? undefined : values[setting.option];
    if (value === undefined) continue;
    // A passive address may also be a function of the client's address.
    if (setting.kind === "passive-address" && typeof value === "function") continue;
    const problem = problemWith(setting, value);
    if (problem) {
      const type = typeof value === "number" ? RangeError : TypeError;
      throw new type(`Option "${setting.option}" ${problem}`);
    }
  }
  const cross = crossProblems((option) => values[option], (option) => `"${option}"`);
  if (cross) {
    const type = cross.missing ? TypeError : RangeError;
    throw new type(`Option "${cross.setting.option}" ${cross.problem}`);
  }
  if (resolved.cluster && typeof resolved.cluster.redisUrl !== "string") {
    throw new TypeError(
      `Option "cluster" must have a redisUrl, got ${JSON.stringify(resolved.cluster)}`,
    );
  }
  if (typeof resolved.authenticator?.authenticate !== "function") {
    throw new TypeError(`Option "authenticator" must have an authenticate() method`);
  }
  if (typeof resolved.storage !== "function" && typeof resolved.storage?.stat !== "function") {
    throw new TypeError(`Option "storage" must be a StorageConnector or a function returning one`);
  }
  return resolved;
}
