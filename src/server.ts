/**
 * {@linkcode FtpServer}: listens, accepts control connections within the
 * session limits, runs one {@linkcode Session} each, dispatches typed events,
 * and shuts down gracefully.
 *
 * @module
 */

import { buildCommandTable } from "./commands/table.ts";
import type { CommandSpec } from "./commands/context.ts";
import type * as net from "node:net";
import {
  type ByteConnection,
  closeQuietly,
  type NetAddress,
  netAddress,
  normalizeHost,
  writeAll,
} from "./data/connection.ts";
import { NodeSocketConnection } from "./data/node_connection.ts";
import { PassivePortPool } from "./data/passive.ts";
import type { FtpServerEventMap, TransferEventDetail } from "./events.ts";
import { BANNED_REPLY, LoginGuard } from "./login_guard.ts";
import { CLUSTER_CONNECT_WAIT_MS, openClusterState } from "./cluster/options.ts";
import type { FailoverState } from "./cluster/failover.ts";
import { SessionLimits, sessionOwner } from "./cluster/session_limits.ts";
import { MemoryState, type SharedState, type SharedStateMode } from "./cluster/state.ts";
import { type FtpServerOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { encodeReply, Reply } from "./replies.ts";
import { Session } from "./session.ts";
import type { SessionContext } from "./session_context.ts";
import { PassthroughAuthenticator } from "./auth/passthrough.ts";
import { CidrList } from "./proxy/cidr.ts";
import { NoAuthAuthenticator } from "./auth/no_auth.ts";
import type { EventWebhooks } from "./webhooks/webhooks.ts";
import { resolveWebhookOptions } from "./webhooks/options.ts";
import {
  closeSoon,
  type ControlListener,
  type ListenerOption,
  NodeControlListener,
  tagListenError,
} from "./control/listener.ts";

export type { ListenerOption };

/** Whether a listen address only reaches this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host);
}

// A server with no authenticator or storage named would once serve the working
// folder read-write to anyone; embedders now say what they want.
function requireOption(
  options: FtpServerOptions | undefined,
  name: "authenticator" | "storage",
  suggestion: string,
): void {
  if (options?.[name] === undefined || options[name] === null) {
    throw new TypeError(
      `Option "${name}" is required: pass one to new FtpServer({ ${name}: ... }), e.g. ${suggestion}`,
    );
  }
}

/**
 * An FTP server. Construct it with options (an `authenticator` and a
 * `storage` are required: who may log in and what they see are never
 * implied), `listen()`, and `close()` (or `await using`) when done. Lifecycle
 * and transfers are typed events (see {@linkcode FtpServerEventMap}).
 *
 * @example Serve a folder to the users of a users file
 * ```ts ignore
 * import { FileStorage, FtpServer, UsersFileAuthenticator } from "@exftp/server";
 *
 * await using server = new FtpServer({
 *   port: 2121,
 *   authenticator: await UsersFileAuthenticator.open("users.yaml"),
 *   storage: new FileStorage({ root: "/srv/ftp" }),
 * });
 * const { hostname, port } = await server.listen();
 * console.log(`FTP on ${hostname}:${port}`);
 * ```
 *
 * @example Log in, watch the events, shut down
 * ```ts
 * import { FtpServer, MemoryStorage, PassthroughAuthenticator, silentLogger } from "@exftp/server";
 * import { RawFtpClient } from "@exftp/server/testing";
 *
 * const server = new FtpServer({
 *   port: 0, // any free port
 *   minPassivePort: 0,
 *   maxPassivePort: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage: new MemoryStorage(),
 *   logger: silentLogger,
 * });
 * const logins: string[] = [];
 * server.addEventListener("login", (event) => logins.push(event.detail.username ?? ""));
 *
 * const address = await server.listen();
 * using client = await RawFtpClient.connect(address);
 * await client.login("alice", "any password");
 * console.assert(logins[0] === "alice" && server.sessionCount === 1);
 * await server.close(); // lets running transfers finish (shutdownGraceMs), then ends sessions
 * ```
 */
export class FtpServer extends EventTarget implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #commands: Map<string, CommandSpec> = buildCommandTable();
  readonly #portPool: PassivePortPool;
  readonly #sessions = new Map<Session, Promise<void>>();
  readonly #context: SessionContext;
  readonly #loginGuard: LoginGuard;
  readonly #state: SharedState;
  /** The state this server opened from `cluster` (it closes it too). */
  readonly #clusterState?: FailoverState;
  readonly #sessionLimits: SessionLimits;
  /** Connections accepted whose shared checks are still running. */
  #admitting = 0;
  #nextConnection = 1;
  readonly #guards = new WeakMap<EventListenerOrEventListenerObject, EventListener>();
  #webhooks?: EventWebhooks;
  /** The webhook code, loaded only when `events` is set (RSS after start, issue 16). */
  readonly #webhooksLoading?: Promise<EventWebhooks>;
  #listeners: ControlListener[] = [];
  #closing?: Promise<void>;
  /** Peers whose connections start with a PROXY header (`proxyProtocol.from`). */
  readonly #proxyFrom?: CidrList;
  /** Trusted connections whose PROXY header is still being read. */
  readonly #readingHeader = new Set<net.Socket>();

  /**
   * Create a server; nothing listens until {@linkcode FtpServer.listen}.
   *
   * @param options `authenticator` and `storage` are required; the rest have defaults
   * @throws {TypeError} when `authenticator` or `storage` is missing, or an option has the wrong type
   * @throws {RangeError} for an option out of its range (the message names it)
   */
  constructor(options: FtpServerOptions) {
    super();
    requireOption(options, "authenticator", "new UsersFileAuthenticator({ path })");
    requireOption(options, "storage", 'new FileStorage({ root: "/srv/ftp" })');
    this.#options = resolveOptions(options);
    const { proxyProtocol } = this.#options;
    if (proxyProtocol) this.#proxyFrom = new CidrList(proxyProtocol.from);
    this.#portPool = new PassivePortPool(
      this.#options.minPassivePort,
      this.#options.maxPassivePort,
      {
        proxyFrom: this.#proxyFrom,
        headerTimeoutMs: proxyProtocol?.headerTimeoutMs,
        sharing: this.#options.passivePortSharing,
      },
    );
    const { onTransferComplete, logger, events, cluster, sharedState } = this.#options;
    if (!sharedState && cluster) this.#clusterState = openClusterState(cluster, logger);
    this.#state = sharedState ?? this.#clusterState ?? new MemoryState();
    this.#loginGuard = new LoginGuard(
      this.#options.banAfterFailures,
      this.#options.banMs,
      this.#state,
    );
    this.#sessionLimits = new SessionLimits(this.#state, { slotTtlMs: cluster?.slotTtlMs, logger });
    if (events) {
      // With a fleet, the shared queue is the outbox (any node delivers) and the folder its fallback.
      const fleetQueue = sharedState ?? this.#clusterState;
      const webhookOptions = fleetQueue && typeof events.outbox !== "object"
        ? { ...events, outbox: fleetQueue, outboxFolder: events.outboxFolder ?? events.outbox }
        : events;
      resolveWebhookOptions(webhookOptions); // bad options throw here, not at listen()
      this.#webhooksLoading = import("./webhooks/webhooks.ts").then(({ EventWebhooks }) => {
        const webhooks = new EventWebhooks(webhookOptions, logger);
        webhooks.attach(this); // before listen(): no session can have emitted anything yet
        return webhooks;
      });
      this.#webhooksLoading.catch(() => {}); // reported by listen()
    }
    this.#context = {
      options: this.#options,
      portPool: this.#portPool,
      commands: this.#commands,
      loginGuard: this.#loginGuard,
      sessionLimits: this.#sessionLimits,
      sharedState: this.#state,
      emit: (type, detail) => {
        this.dispatchEvent(new CustomEvent(type, { detail }));
        const outcome = type === "transfer-complete" || type === "transfer-failed";
        if (onTransferComplete && outcome) {
          try {
            onTransferComplete(detail as TransferEventDetail);
          } catch (error) {
            logger("error", "onTransferComplete threw", { error: String(error) });
          }
        }
        // The final reply waits until the outbox has the event.
        return outcome ? this.#webhooks?.record(detail as TransferEventDetail) : undefined;
      },
    };
  }

  /** The address the control listener is bound to (after `listen()`). */
  get addr(): NetAddress {
    const listener = this.#listeners.find((l) => !l.implicitTls);
    if (!listener) throw new Error("The server is not listening; call listen() first");
    return listener.addr;
  }

  /** The implicit FTPS listener's address, when `implicitTlsPort` is set. */
  get implicitTlsAddr(): NetAddress | undefined {
    return this.#listeners.find((l) => l.implicitTls)?.addr;
  }

  /** How many sessions are open. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Where bans and session counts live: `local` (this process), `shared`
   * (the fleet's Redis answers) or `degraded` (Redis is configured but
   * unreachable: this node uses local state until it is back).
   */
  get sharedStateMode(): SharedStateMode {
    return this.#state.mode;
  }

  /** How many times this node fell back to local state because Redis failed. */
  get sharedStateDegradations(): number {
    return this.#clusterState?.degradations ?? 0;
  }

  /** Whether {@linkcode FtpServer.close} was called: no new sessions, running ones end. */
  get draining(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Replace the FTPS certificate and key (e.g. after renewal). Sessions that
   * start TLS afterwards use them; running sessions keep theirs.
   */
  setCertificate(cert: string, key: string): void {
    if (!this.#options.tls) throw new Error("The server was created without tls options");
    this.#options.tls.setCertificate(cert, key);
  }

  /**
   * Start accepting connections; resolves with the control listener's address.
   * A listen error (e.g. `Deno.errors.AddrInUse`) carries `option`: which
   * listener failed, `"port"` or `"implicitTlsPort"`.
   */
  async listen(): Promise<NetAddress> {
    if (this.#listeners.length) throw new Error("The server is already listening");
    const { hostname, port, authenticator, logger, tls, implicitTlsPort } = this.#options;
    const onConnection = (socket: net.Socket, implicitTls: boolean) =>
      this.#accept(socket, implicitTls);
    // With a fleet, wait briefly for Redis so the first logins share state already.
    await this.#clusterState?.start(CLUSTER_CONNECT_WAIT_MS);
    this.#webhooks ??= await this.#webhooksLoading;
    await this.#webhooks?.start();
    try {
      // Control connections always go through node:net, plain data never does:
      // explicit FTPS must upgrade an accepted socket in place (only node:tls
      // can), and a native socket stops delivering a line that follows TCP
      // urgent data (lftp sends ABOR as IAC IP, urgent IAC DM, "ABOR") until more
      // bytes arrive, so ABOR would wait for the transfer it should stop.
      this.#listeners.push(
        await NodeControlListener.open(hostname, port, false, onConnection).catch(
          (error) => Promise.reject(tagListenError(error, "port")),
        ),
      );
      if (tls && implicitTlsPort !== undefined) {
        this.#listeners.push(
          await NodeControlListener.open(hostname, implicitTlsPort, true, onConnection).catch(
            (error) => Promise.reject(tagListenError(error, "implicitTlsPort")),
          ),
        );
      }
    } catch (error) {
      for (const listener of this.#listeners.splice(0)) await listener.close();
      await this.#webhooks?.stop();
      throw error;
    }
    if (authenticator.warning) logger("warn", authenticator.warning);
    if (
      (authenticator instanceof PassthroughAuthenticator ||
        authenticator instanceof NoAuthAuthenticator) && !isLoopbackAddress(hostname)
    ) {
      // vsftpd refuses to start an anonymous server with write access by mistake; we warn.
      logger(
        "warn",
        `Anyone can log in and change files: authenticator ${
          authenticator instanceof NoAuthAuthenticator ? "no_auth" : "passthrough"
        } accepts every password and the server listens on ${hostname}, beyond loopback; ` +
          `configure an authenticator, or listen on 127.0.0.1`,
      );
    }
    return this.addr;
  }

  /**
   * Shut down gracefully: stop accepting, let running transfers finish for up
   * to `shutdownGraceMs`, then send 421 to every session and close it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@linkcode FtpServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Listen for a typed server event. */
  override addEventListener<K extends keyof FtpServerEventMap>(
    type: K,
    listener: (event: FtpServerEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Listen for any event. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener && this.#guarded(listener), options);
  }

  /** A listener that throws is logged, never allowed to take the server down. */
  #guarded(listener: EventListenerOrEventListenerObject): EventListener {
    let guarded = this.#guards.get(listener);
    if (!guarded) {
      guarded = (event: Event) => {
        try {
          if (typeof listener === "function") listener.call(this, event);
          else listener.handleEvent(event);
        } catch (error) {
          this.#options.logger("error", `A "${event.type}" listener threw`, {
            error: String(error),
          });
        }
      };
      this.#guards.set(listener, guarded);
    }
    return guarded;
  }

  /** Stop listening for a typed server event. */
  override removeEventListener<K extends keyof FtpServerEventMap>(
    type: K,
    listener: (event: FtpServerEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Stop listening for any event. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener && (this.#guards.get(listener) ?? listener), options);
  }

  async #close(): Promise<void> {
    await Promise.all(this.#listeners.map((listener) => listener.close()));
    for (const socket of this.#readingHeader) socket.destroy();
    const grace = new AbortController();
    const timer = setTimeout(() => grace.abort(), this.#options.shutdownGraceMs);
    try {
      await Promise.all(
        [...this.#sessions.keys()].map((session) => session.shutdown(grace.signal)),
      );
      await Promise.all(this.#sessions.values());
    } finally {
      clearTimeout(timer);
      // After the sessions: their last events are in the outbox before it stops.
      await this.#webhooks?.stop();
      this.#sessionLimits.close();
      await this.#clusterState?.close();
    }
  }

  /**
   * A new control socket: from a `proxyProtocol.from` peer, its PROXY header
   * is read first (bounded, with a deadline; no header, no session) and names
   * the client for everything after, bans and limits included.
   */
  #accept(socket: net.Socket, implicitTls: boolean): void {
    const wrap = () =>
      implicitTls ? NodeSocketConnection.unread(socket) : NodeSocketConnection.plain(socket);
    const peer = normalizeHost(socket.remoteAddress ?? "");
    if (!this.#proxyFrom?.contains(peer) || this.#closing) {
      this.#startSession(wrap(), implicitTls);
      return;
    }
    this.#readingHeader.add(socket);
    // The PROXY code loads only once a trusted balancer connects (RSS after start, issue 16).
    import("./proxy/read.ts")
      .then(({ readProxyHeaderFromSocket }) =>
        readProxyHeaderFromSocket(socket, this.#options.proxyProtocol?.headerTimeoutMs ?? 5000)
      )
      .then((header) => {
        const connection = wrap();
        if (header.command === "local") return this.#startSession(connection, implicitTls);
        this.#startSession(connection, implicitTls, {
          remote: header.source,
          local: header.destination,
        });
      }, (error) => {
        this.#options.logger("warn", "Connection closed: no valid PROXY header", {
          peer,
          error: String(error),
        });
        socket.destroy();
      })
      .finally(() => this.#readingHeader.delete(socket));
  }

  #startSession(
    connection: ByteConnection,
    implicitTls: boolean,
    client: { remote: NetAddress; local: NetAddress } = {
      remote: netAddress(connection.remoteAddr),
      local: netAddress(connection.localAddr),
    },
  ): void {
    if (this.#closing) {
      closeQuietly(connection);
      return;
    }
    const ip = client.remote.hostname;
    if (this.#sessions.size + this.#admitting >= this.#options.maxSessions) {
      this.#refuse(connection, ip, "Too many connections; try again later", implicitTls);
      return;
    }
    this.#admitting++;
    this.#admit(connection, implicitTls, client)
      .catch((error) => {
        this.#options.logger("error", "Admitting a connection failed", { error: String(error) });
        closeQuietly(connection);
      })
      .finally(() => this.#admitting--);
  }

  /**
   * The checks that ask the shared state (bans, sessions per address), then
   * the session. An owner names the connection's slots; they are given back
   * when the session ends.
   */
  async #admit(
    connection: ByteConnection,
    implicitTls: boolean,
    client: { remote: NetAddress; local: NetAddress },
  ): Promise<void> {
    const ip = client.remote.hostname;
    if (await this.#loginGuard.isBanned(ip)) {
      this.#refuse(connection, ip, BANNED_REPLY, implicitTls);
      return;
    }
    const owner = `c${this.#nextConnection++}`;
    const limits = this.#sessionLimits;
    if (!(await limits.admitAddress(owner, ip, this.#options.maxSessionsPerIp))) {
      this.#refuse(connection, ip, "Too many connections from your address", implicitTls);
      return;
    }
    if (this.#closing) {
      await limits.release(owner);
      closeQuietly(connection);
      return;
    }
    const context = this.#context;
    const session = new Session(context, connection, implicitTls, client);
    context.emit("session-open", session.eventDetail);
    session.log("info", "Connected");
    const running = session.run().finally(async () => {
      this.#sessions.delete(session);
      // Its slots are free before anyone hears that it closed.
      await Promise.all([limits.release(owner), limits.release(sessionOwner(session.id))]);
      session.log("info", "Disconnected");
      context.emit("session-close", session.eventDetail);
    });
    this.#sessions.set(session, running);
  }

  #refuse(connection: ByteConnection, client: string, text: string, implicitTls: boolean): void {
    this.#options.logger("warn", "Connection refused", { client, reason: text });
    // An implicit-TLS client can't read a plain reply: just close.
    const reply = implicitTls
      ? Promise.resolve()
      : writeAll(connection, encodeReply(Reply.ServiceNotAvailable, text));
    reply.catch(() => {}).finally(() => closeSoon(connection));
  }
}
