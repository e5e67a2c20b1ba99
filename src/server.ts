/**
 * {@linkcode FtpServer}: listens, accepts control connections within the
 * session limits, runs one {@linkcode Session} each, dispatches typed events,
 * and shuts down gracefully.
 *
 * @module
 */

import { buildCommandTable } from "./commands/table.ts";
import type { CommandSpec } from "./commands/types.ts";
import { closeQuietly, type NetAddress, netAddress, writeAll } from "./data/connection.ts";
import { PassivePortPool } from "./data/passive.ts";
import type { FtpServerEventMap } from "./events.ts";
import { type FtpServerOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { encodeReply } from "./replies.ts";
import { Session, type SessionContext } from "./session.ts";

/**
 * An FTP server. Construct it with options, `listen()`, and `close()` (or
 * `await using`) when done.
 *
 * @example
 * ```ts
 * import { FileStorage, FtpServer, PassthroughAuthenticator } from "@exftp/server";
 *
 * const server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage: new FileStorage({ root: Deno.cwd() }),
 * });
 * const { port } = await server.listen();
 * console.log(`FTP on port ${port}`);
 * await server.close();
 * ```
 */
export class FtpServer extends EventTarget implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #commands: Map<string, CommandSpec> = buildCommandTable();
  readonly #portPool: PassivePortPool;
  readonly #sessions = new Map<Session, Promise<void>>();
  readonly #sessionsPerIp = new Map<string, number>();
  readonly #shutdown = new AbortController();
  #listener?: Deno.TcpListener;
  #acceptLoop?: Promise<void>;
  #closing?: Promise<void>;

  /**
   * Create a server; nothing listens until {@linkcode FtpServer.listen}.
   * Throws `RangeError`/`TypeError` for invalid options, naming the option.
   */
  constructor(options: FtpServerOptions = {}) {
    super();
    this.#options = resolveOptions(options);
    this.#portPool = new PassivePortPool(
      this.#options.minPassivePort,
      this.#options.maxPassivePort,
    );
  }

  /** The address the control listener is bound to (after `listen()`). */
  get addr(): NetAddress {
    if (!this.#listener) throw new Error("The server is not listening; call listen() first");
    return netAddress(this.#listener.addr);
  }

  /** How many sessions are open. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Start accepting connections; resolves with the bound address. */
  listen(): Promise<NetAddress> {
    if (this.#listener) throw new Error("The server is already listening");
    const { hostname, port, authenticator, logger } = this.#options;
    this.#listener = Deno.listen({ hostname, port, transport: "tcp" });
    if (authenticator.warning) logger("warn", authenticator.warning);
    this.#acceptLoop = this.#accept(this.#listener);
    return Promise.resolve(this.addr);
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
    super.addEventListener(type, listener, options);
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
    super.removeEventListener(type, listener, options);
  }

  async #close(): Promise<void> {
    closeQuietly(this.#listener);
    await this.#acceptLoop;
    this.#shutdown.abort();
    const timer = new AbortController();
    const handle = setTimeout(() => timer.abort(), this.#options.shutdownGraceMs);
    try {
      await Promise.all(
        [...this.#sessions.keys()].map((session) => session.shutdown(timer.signal)),
      );
      await Promise.all(this.#sessions.values());
    } finally {
      clearTimeout(handle);
    }
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    const context: SessionContext = {
      options: this.#options,
      portPool: this.#portPool,
      commands: this.#commands,
      shutdownSignal: this.#shutdown.signal,
      emit: (type, detail) => this.dispatchEvent(new CustomEvent(type, { detail })),
    };
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || this.#closing) return;
        this.#options.logger("error", "Accept failed", { error: String(error) });
        continue;
      }
      conn.setNoDelay(true);
      const ip = netAddress(conn.remoteAddr).hostname;
      const perIp = this.#sessionsPerIp.get(ip) ?? 0;
      if (this.#sessions.size >= this.#options.maxSessions) {
        this.#refuse(conn, "Too many connections; try again later");
        continue;
      }
      if (perIp >= this.#options.maxSessionsPerIp) {
        this.#refuse(conn, "Too many connections from your address");
        continue;
      }
      this.#sessionsPerIp.set(ip, perIp + 1);
      const session = new Session(context, conn);
      context.emit("session-open", session.eventDetail);
      session.log("info", "Connected");
      const running = session.run().finally(() => {
        this.#sessions.delete(session);
        const left = (this.#sessionsPerIp.get(ip) ?? 1) - 1;
        if (left > 0) this.#sessionsPerIp.set(ip, left);
        else this.#sessionsPerIp.delete(ip);
        session.log("info", "Disconnected");
        context.emit("session-close", session.eventDetail);
      });
      this.#sessions.set(session, running);
    }
  }

  #refuse(conn: Deno.TcpConn, text: string): void {
    this.#options.logger("warn", "Connection refused", {
      client: netAddress(conn.remoteAddr).hostname,
      reason: text,
    });
    writeAll(conn, encodeReply(421, text))
      .catch(() => {})
      .finally(() => closeQuietly(conn));
  }
}
