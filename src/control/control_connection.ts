/**
 * The byte side of one control connection, which the session extends with the
 * FTP state and the command pipeline: command lines in, one at a time, with
 * nothing pending between commands ({@linkcode ControlReader}); replies out,
 * in order; the idle and login deadlines (on timers shared by every session);
 * the switch to TLS in place (AUTH TLS, implicit FTPS).
 *
 * @module
 */

import type { SecureContext } from "node:tls";
import {
  type ByteConnection,
  closeQuietly,
  isConnectionError,
  type NetAddress,
  netAddress,
  writeAll,
} from "../data/connection.ts";
import { NodeSocketConnection } from "../data/node_connection.ts";
import { encodeReply } from "../replies.ts";
import { DeadlineQueues } from "./deadlines.ts";
import {
  type ControlLine,
  type ControlLineHandler,
  ControlReader,
  PullingSource,
} from "./line_reader.ts";

/** How long a terminated session may take to say 421 before it is dropped. */
const TERMINATE_DEADLINE_MS = 1000;

/** A control connection: lines in, replies out, deadlines, TLS in place. */
export abstract class ControlConnection implements ControlLineHandler {
  /** The control connection (replaced when upgraded to TLS). */
  connection: ByteConnection;
  /**
   * The client's address, the one value every check and record uses (limits,
   * bans, PORT/EPRT, the passive source check, logs, events, authenticators):
   * the PROXY header's source behind a balancer, else the peer's address.
   */
  readonly remote: NetAddress;
  /** The address the client connected to: the PROXY header's destination, else the local end. */
  readonly local: NetAddress;
  /** The control connection's own local address, where passive listeners bind. */
  readonly bindAddress: NetAddress;
  /** The control connection's TLS context, once it speaks TLS (data connections reuse it). */
  tlsContext?: SecureContext;
  /** The last reply being written, if any (the next one waits for it). */
  #writeChain?: Promise<void>;

  /**
   * The idle and login deadlines of every session, one timer per duration
   * (see {@linkcode DeadlineQueues}): measured on Deno 2.9, a `setTimeout`
   * per session held about 350 bytes of each idle session.
   */
  static readonly #idleDeadlines = new DeadlineQueues<ControlConnection>((connection) =>
    connection.terminate("Idle timeout: closing control connection")
  );
  static readonly #loginDeadlines = new DeadlineQueues<ControlConnection>((connection) =>
    connection.terminate("Login timeout: closing control connection")
  );

  /** Over an accepted `connection`; `client`: the addresses a PROXY header gave, if any. */
  constructor(
    connection: ByteConnection,
    client?: { readonly remote: NetAddress; readonly local: NetAddress },
  ) {
    this.connection = connection;
    const bindAddress = netAddress(connection.localAddr);
    // The same address twice (no PROXY header) is kept once.
    const local = client?.local;
    this.bindAddress = local?.hostname === bindAddress.hostname && local.port === bindAddress.port
      ? local
      : bindAddress;
    this.remote = client?.remote ?? netAddress(connection.remoteAddr);
    this.local = local ?? this.bindAddress;
  }

  /** Serve one command line; the next is read once this settles. `false`: stop reading. */
  abstract line(line: ControlLine): Promise<boolean> | boolean;
  /** Reading stopped: the client left, `line` said so, or `error` broke it. */
  abstract stopped(error?: unknown): void;
  /** Send 421 and drop the connection (a deadline fell due). */
  abstract terminate(text: string): void;
  /** Log through the server's logger, with this connection's session, client and user. */
  abstract log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void;

  /**
   * Log why something inside this session failed: a lost connection is the
   * client's doing (info), anything else is a bug or a broken dependency (error).
   */
  protected logFailure(what: string, error: unknown): void {
    try {
      if (isConnectionError(error)) {
        this.log("info", "Control connection lost", { during: what, error: String(error) });
      } else {
        this.log("error", `${what} failed; closing the session`, { error: String(error) });
      }
    } catch {
      // A logger that throws must not take the server down either.
    }
  }

  /**
   * Send one reply (multi-line when `text` has several lines). Replies never
   * interleave, and go out in the order they were asked for: one that must
   * wait for something first (`after`, which must never reject: a transfer's
   * event being written) holds back the replies asked for after it.
   */
  reply(code: number, text: string | readonly string[], after?: Promise<void>): Promise<void> {
    const bytes = encodeReply(code, text);
    const previous = this.#writeChain ?? Promise.resolve();
    const write = (after ? Promise.all([previous, after]) : previous).then(() =>
      writeAll(this.connection, bytes)
    );
    const chain = write.catch(() => {});
    this.#writeChain = chain;
    // An idle session keeps no settled promise.
    chain.then(() => {
      if (this.#writeChain === chain) this.#writeChain = undefined;
    });
    return write;
  }

  /** Wait until every reply sent so far is written (or failed). */
  protected async flushReplies(): Promise<void> {
    await this.#writeChain;
  }

  /**
   * Once `after` settles, send a last reply and close the connection
   * gracefully. A client that reads nothing can't stall this: the connection
   * is dropped after a deadline whether or not the reply could be written.
   */
  protected replyAndClose(after: Promise<void>, code: number, text: string): Promise<void> {
    const connection = this.connection;
    const hardClose = setTimeout(() => closeQuietly(connection), TERMINATE_DEADLINE_MS);
    return after
      .then(() => this.reply(code, text))
      .catch(() => {})
      .then(() => this.connection.closeGracefully?.(1000))
      .catch(() => {})
      .finally(() => {
        clearTimeout(hardClose);
        closeQuietly(this.connection);
      });
  }

  /** Write the replies still pending, end the stream cleanly (TLS close_notify) and close. */
  protected async closeConnection(): Promise<void> {
    await this.flushReplies();
    // TLS: send close_notify so the client sees a clean end, not a truncation.
    await this.connection.closeGracefully?.().catch(() => {});
    closeQuietly(this.connection);
  }

  /** Read command lines from the (current) connection into {@linkcode line}. */
  protected readLines(maxLineBytes: number): void {
    const connection = this.connection;
    const source = connection instanceof NodeSocketConnection
      ? connection
      : new PullingSource(connection);
    new ControlReader(source, this, maxLineBytes).start();
  }

  /** (Re)start the idle deadline: {@linkcode terminate} unless a line comes within `ms`. */
  protected armIdleTimer(ms: number): void {
    ControlConnection.#idleDeadlines.of(ms).arm(this);
  }

  /** Stop the idle deadline (a transfer runs, or the session ends). */
  protected clearIdleTimer(): void {
    ControlConnection.#idleDeadlines.disarm(this);
  }

  /** Start the login deadline: {@linkcode terminate} unless logged in within `ms`. */
  protected armLoginTimer(ms: number): void {
    ControlConnection.#loginDeadlines.of(ms).arm(this);
  }

  /** Stop the login deadline (logged in, or the session ends). */
  protected clearLoginTimer(): void {
    ControlConnection.#loginDeadlines.disarm(this);
  }

  /**
   * Run the server side of a TLS handshake on the current connection (a
   * `node:net` one, detached or never read), within `timeoutMs`; from then on
   * the TLS connection is the connection.
   */
  protected async startTls(secureContext: SecureContext, timeoutMs: number): Promise<void> {
    const connection = this.connection as NodeSocketConnection;
    this.connection = await connection.startTls({ secureContext, timeoutMs });
    this.tlsContext = secureContext;
  }
}
