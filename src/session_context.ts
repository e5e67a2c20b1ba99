/**
 * What a session gets from its server ({@linkcode SessionContext}), and the
 * narrow {@linkcode CommandContext} it hands its command handlers, built over
 * the few session members a handler may reach ({@linkcode CommandHost}).
 *
 * @module
 */

import type { AuthContext, FtpUser } from "./auth/types.ts";
import type {
  CommandContext,
  CommandSpec,
  CommandState,
  RunningTransferView,
} from "./commands/context.ts";
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
  /**
   * Dispatch a server event. Returns a promise when the event is being
   * durably recorded (the webhook outbox, for transfer and operation
   * outcomes) that settles, never rejecting, once it is.
   */
  emit<K extends keyof FtpServerEventMap>(
    type: K,
    detail: FtpServerEventMap[K]["detail"],
  ): Promise<void> | undefined;
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
  ): Promise<void>;
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
  return new SessionCommandContext(context, host);
}

/**
 * A class, not an object literal of closures: one per session, and 10,000 idle
 * sessions must stay small. The literal (about 30 members, a dozen accessors)
 * was a dictionary-mode object with its own closures, about 3 KiB per session
 * in a heap snapshot; this is a fast-mode object of four fields.
 * Members are prototype methods: call them on the context, don't detach them.
 */
class SessionCommandContext implements CommandContext {
  readonly #context: SessionContext;
  readonly #host: CommandHost;
  readonly options: ResolvedOptions;
  readonly state: CommandState;

  constructor(context: SessionContext, host: CommandHost) {
    this.#context = context;
    this.#host = host;
    this.options = context.options;
    this.state = host.state;
  }

  get remote(): NetAddress {
    return this.#host.remote;
  }
  get local(): NetAddress {
    return this.#host.local;
  }
  get commands(): ReadonlyMap<string, CommandSpec> {
    return this.#context.commands;
  }
  get loginGuard(): LoginGuard {
    return this.#context.loginGuard;
  }
  get sessionLimits(): SessionLimits {
    return this.#context.sessionLimits;
  }
  get sharedState(): SharedState {
    return this.#context.sharedState;
  }
  get user(): FtpUser | undefined {
    return this.#host.user;
  }
  get storage(): StorageConnector {
    const storage = this.#host.loggedInStorage;
    if (!storage) throw new FtpError(Reply.NotLoggedIn, "Please log in with USER and PASS first");
    return storage;
  }
  storageCan(method: "setModifiedTime" | "chmod"): boolean {
    // Before login, with a per-user provider, the answer is not known yet:
    // assume yes, so FEAT (which clients send first) still advertises it.
    const provider = this.options.storage;
    const connector = this.#host.loggedInStorage ??
      (typeof provider === "function" ? undefined : provider);
    return connector === undefined || typeof connector[method] === "function";
  }
  resolvePath(argument: string): string {
    return resolveVirtualPath(this.#host.state.cwd, argument);
  }
  reply(code: number, text: string | readonly string[]): Promise<void> {
    return this.#host.reply(code, text);
  }
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void {
    this.#host.log(level, message, fields);
  }
  emit<K extends keyof FtpServerEventMap>(
    type: K,
    detail: FtpServerEventMap[K]["detail"],
  ): Promise<void> | undefined {
    return this.#context.emit(type, detail);
  }
  get eventDetail(): SessionEventDetail {
    return this.#host.eventDetail;
  }
  recordOperation(
    kind: TransferKind,
    command: string,
    path: string,
    error?: unknown,
    from?: string,
  ): Promise<void> {
    return this.#host.recordOperation(kind, command, path, error, from);
  }
  get authContext(): AuthContext {
    return this.#host.authContext;
  }
  logIn(user: FtpUser, storage: StorageConnector): Promise<void> {
    return this.#host.logIn(user, storage);
  }
  close(): void {
    this.#host.close();
  }
  get tlsActive(): boolean {
    return this.#host.tlsContext !== undefined;
  }
  upgradeToTls(): Promise<void> {
    return this.#host.upgradeToTls();
  }
  get dataSetup(): DataSetup | undefined {
    return this.#host.dataSetup;
  }
  set dataSetup(setup: DataSetup | undefined) {
    this.#host.dataSetup = setup;
  }
  clearDataSetup(): void {
    this.#host.clearDataSetup();
  }
  listenPassive(): Promise<DataListener> {
    const host = this.#host;
    return this.#context.portPool.listen(host.bindAddress.hostname, host.remote.hostname, {
      kind: host.dataSocketKind,
      pem: this.options.tls?.pem,
      // Counted from now, not from the transfer command: a session that never
      // connects must not hold one of the few passive ports while it idles.
      expiresInMs: this.options.passiveAcceptTimeoutMs,
    });
  }
  startTransfer(request: TransferRequest): Promise<void> {
    return this.#host.startTransfer(request);
  }
  startTask(request: TaskRequest): void {
    this.#host.startTask(request);
  }
  abortTransfer(code?: number, text?: string): Promise<boolean> {
    return this.#host.abortTransfer(code, text);
  }
  waitForTransfer(): Promise<void> {
    return this.#host.waitForTransfer();
  }
  get transferProgress(): RunningTransferView | undefined {
    return this.#host.transferProgress;
  }
  get busy(): boolean {
    return this.#host.busy;
  }
}
