/**
 * What a session gets from its server ({@linkcode SessionContext}), and the
 * narrow {@linkcode CommandContext} it hands its command handlers, built over
 * the few session members a handler may reach ({@linkcode CommandHost}).
 *
 * @module
 */

import type { AuthContext, FtpUser } from "./auth/types.ts";
import type { CommandContext, CommandSpec, CommandState } from "./commands/context.ts";
import type { DataSetup } from "./data/channel.ts";
import type { NetAddress } from "./data/connection.ts";
import type { DataListener, PassiveListenOptions, SocketKind } from "./data/passive.ts";
import type { TaskRequest, TransferProgress, TransferRequest } from "./data/transfer.ts";
import { FtpError } from "./errors.ts";
import type { FtpServerEventMap, SessionEventDetail, TransferKind } from "./events.ts";
import type { LoginGuard } from "./login_guard.ts";
import type { SessionLimits } from "./cluster/session_limits.ts";
import type { SharedState } from "./cluster/state.ts";
import type { ResolvedOptions } from "./options.ts";
import { resolveVirtualPath } from "./paths.ts";
import { Reply } from "./replies.ts";
import type { StorageConnector } from "./storage/types.ts";

/** Opens passive listeners (the server's `PassivePortPool`, or the test harness's). */
export interface PassiveListenerSource {
  /** Listen at `hostname` for a connection from `clientHost` only. */
  listen(
    hostname: string,
    clientHost: string,
    options?: PassiveListenOptions,
  ): Promise<DataListener>;
}

/** What a session needs from its server. */
export interface SessionContext {
  readonly options: ResolvedOptions;
  readonly portPool: PassiveListenerSource;
  readonly commands: ReadonlyMap<string, CommandSpec>;
  /** Failed logins per address, for temporary bans. */
  readonly loginGuard: LoginGuard;
  /** Sessions per address and per user (slots in the shared state). */
  readonly sessionLimits: SessionLimits;
  /** What the server's sessions share (quota usage; Redis with `cluster`). */
  readonly sharedState: SharedState;
  emit<K extends keyof FtpServerEventMap>(
    type: K,
    detail: FtpServerEventMap[K]["detail"],
  ): void;
}

/** The session members a {@linkcode CommandContext} delegates to (the session implements it). */
export interface CommandHost {
  readonly remote: NetAddress;
  readonly local: NetAddress;
  /** Where passive listeners bind (the control connection's own local address). */
  readonly bindAddress: NetAddress;
  readonly state: CommandState;
  readonly user: FtpUser | undefined;
  readonly loggedInStorage: StorageConnector | undefined;
  readonly eventDetail: SessionEventDetail;
  readonly authContext: AuthContext;
  readonly tlsContext?: unknown;
  readonly dataSocketKind: SocketKind;
  dataSetup?: DataSetup;
  readonly transferProgress:
    | {
      readonly request: Pick<TransferRequest, "command" | "path">;
      readonly progress: TransferProgress;
    }
    | undefined;
  readonly busy: boolean;
  reply(code: number, text: string | readonly string[]): Promise<void>;
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void;
  recordOperation(
    kind: TransferKind,
    command: string,
    path: string,
    error?: unknown,
    from?: string,
  ): void;
  logIn(user: FtpUser, storage: StorageConnector): Promise<void>;
  close(): void;
  upgradeToTls(): Promise<void>;
  clearDataSetup(): void;
  startTransfer(request: TransferRequest): Promise<void>;
  startTask(request: TaskRequest): void;
  abortTransfer(code?: number, text?: string): Promise<boolean>;
  waitForTransfer(): Promise<void>;
}

/**
 * The context a session's command handlers are given: a separate object whose
 * members delegate to `host`, so a handler can reach nothing else of the session.
 */
export function createCommandContext(context: SessionContext, host: CommandHost): CommandContext {
  const { options } = context;
  return {
    remote: host.remote,
    local: host.local,
    options,
    commands: context.commands,
    state: host.state,
    loginGuard: context.loginGuard,
    sessionLimits: context.sessionLimits,
    sharedState: context.sharedState,
    get user() {
      return host.user;
    },
    get storage() {
      const storage = host.loggedInStorage;
      if (!storage) throw new FtpError(Reply.NotLoggedIn, "Please log in with USER and PASS first");
      return storage;
    },
    storageCan(method) {
      // Before login, with a per-user provider, the answer is not known yet:
      // assume yes, so FEAT (which clients send first) still advertises it.
      const provider = options.storage;
      const connector = host.loggedInStorage ??
        (typeof provider === "function" ? undefined : provider);
      return connector === undefined || typeof connector[method] === "function";
    },
    resolvePath: (argument) => resolveVirtualPath(host.state.cwd, argument),
    reply: (code, text) => host.reply(code, text),
    log: (level, message, fields) => host.log(level, message, fields),
    emit: (type, detail) => context.emit(type, detail),
    get eventDetail() {
      return host.eventDetail;
    },
    recordOperation: (kind, command, path, error, from) =>
      host.recordOperation(kind, command, path, error, from),
    get authContext() {
      return host.authContext;
    },
    logIn: (user, storage) => host.logIn(user, storage),
    close: () => host.close(),
    get tlsActive() {
      return host.tlsContext !== undefined;
    },
    upgradeToTls: () => host.upgradeToTls(),
    get dataSetup() {
      return host.dataSetup;
    },
    set dataSetup(setup) {
      host.dataSetup = setup;
    },
    clearDataSetup: () => host.clearDataSetup(),
    listenPassive: () =>
      context.portPool.listen(host.bindAddress.hostname, host.remote.hostname, {
        kind: host.dataSocketKind,
        pem: options.tls?.pem,
        // Counted from now, not from the transfer command: a session that never
        // connects must not hold one of the few passive ports while it idles.
        expiresInMs: options.passiveAcceptTimeoutMs,
      }),
    startTransfer: (request) => host.startTransfer(request),
    startTask: (request) => host.startTask(request),
    abortTransfer: (code, text) => host.abortTransfer(code, text),
    waitForTransfer: () => host.waitForTransfer(),
    get transferProgress() {
      return host.transferProgress;
    },
    get busy() {
      return host.busy;
    },
  };
}
