/**
 * One control connection: its state and the pipeline every command passes
 * through (500 unknown → 530 not logged in → 421 login no longer valid → 501
 * bad argument → 502 unavailable → 550 read-only → handler), and transfers
 * that run beside the control loop so ABOR, STAT and QUIT are answered while
 * data moves. Handlers see the session only through the narrow
 * {@linkcode CommandContext} it builds for them.
 *
 * @module
 */

import type { AuthContext, FtpUser } from "./auth/types.ts";
import { Revalidation } from "./commands/auth.ts";
import {
  type CommandContext,
  type CommandSpec,
  type CommandState,
  initialCommandState,
} from "./commands/context.ts";
import { type CommandLine, dispatchCommand, parseCommandLine } from "./commands/dispatch.ts";
import { ControlConnection } from "./control/control_connection.ts";
import type { ControlLine } from "./control/line_reader.ts";
import {
  type ByteConnection,
  closeQuietly,
  isConnectionError,
  type NetAddress,
} from "./data/connection.ts";
import type { DataSetup } from "./data/channel.ts";
import { NodeSocketConnection } from "./data/node_connection.ts";
import { passiveSocketKind, type SocketKind } from "./data/passive.ts";
import { type TaskRequest, TransferProgress, type TransferRequest } from "./data/transfer.ts";
import { FtpError, TransferAbort } from "./errors.ts";
import type { SessionEventDetail, TransferKind } from "./events.ts";
import { Reply, sanitizeReplyText } from "./replies.ts";
import { type CommandHost, createCommandContext, type SessionContext } from "./session_context.ts";
import {
  emitOperation,
  type RunningTransfer,
  runTaskBeside,
  runTransferBeside,
} from "./session_transfers.ts";
import type { StorageConnector } from "./storage/types.ts";

// The data layer's types, where handlers have always found them.
export type { DataSetup } from "./data/channel.ts";
export { TransferProgress, type TransferRequest } from "./data/transfer.ts";

let nextSessionNumber = 1;

/** How long an ending session may take to write what it still has to say. */
const CLEANUP_DEADLINE_MS = 10_000;

/** Commands kept waiting for a transfer before the session stops reading. */
const MAX_QUEUED_COMMANDS = 32;

/** One client's control connection. */
export class Session extends ControlConnection implements CommandHost {
  /** Unique id for logs and events. */
  readonly id: string = String(nextSessionNumber++);
  /** The server's shared state. */
  readonly context: SessionContext;

  /** The settings commands change (TYPE, REST, RNFR, PROT…): see {@linkcode CommandState}. */
  readonly state: CommandState = initialCommandState();
  /** How the next data connection is made. */
  dataSetup?: DataSetup;

  #user?: FtpUser;
  #storage?: StorageConnector;
  /** What the command handlers see of this session. */
  readonly #commandContext: CommandContext;
  /** Asks the authenticator, now and then, whether the user is still valid (if it can). */
  readonly #revalidation?: Revalidation;
  #transfer?: RunningTransfer;
  #closing = false;
  #terminated = false;
  /** Resolves {@linkcode run}'s promise. */
  #ended?: () => void;

  readonly #implicitTls: boolean;
  #connectionReplaced = false;
  #handshaking = false;
  /** Commands waiting for the transfer (made when the first one waits). */
  #queue?: { line: CommandLine; spec?: CommandSpec }[];
  #queueRunner?: Promise<void>;

  /**
   * Wrap an accepted control connection; `implicitTls` when it must start
   * with a handshake; `client`: the addresses a PROXY header gave, if any.
   */
  constructor(
    context: SessionContext,
    connection: ByteConnection,
    implicitTls = false,
    client?: { readonly remote: NetAddress; readonly local: NetAddress },
  ) {
    super(connection, client);
    this.context = context;
    this.#implicitTls = implicitTls;
    this.#commandContext = createCommandContext(context, this);
    if (context.options.authenticator.isStillValid) {
      this.#revalidation = new Revalidation(this.#commandContext);
    }
  }

  /** The logged-in user. */
  get user(): FtpUser | undefined {
    return this.#user;
  }

  /** PROT: `C` clear data connections, `P` private (TLS). */
  get protection(): "C" | "P" {
    return this.state.protection;
  }

  /** The running transfer's progress, if any. */
  get transferProgress():
    | { request: Pick<TransferRequest, "command" | "path">; progress: TransferProgress }
    | undefined {
    return this.#transfer;
  }

  /** How passive data connections are made (see {@linkcode passiveSocketKind}). */
  get dataSocketKind(): SocketKind {
    const protectData = this.tlsContext !== undefined && this.protection === "P";
    return passiveSocketKind(protectData, this.context.options.tls);
  }

  /** Details for events. */
  get eventDetail(): SessionEventDetail {
    return {
      sessionId: this.id,
      remoteAddress: this.remote.hostname,
      username: this.user?.username,
    };
  }

  /** The user's storage, once logged in. */
  get loggedInStorage(): StorageConnector | undefined {
    return this.#storage;
  }

  /** Log through the server's logger with this session's id. */
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: object): void {
    this.context.options.logger(level, message, {
      session: this.id,
      client: this.remote.hostname,
      user: this.user?.username,
      ...fields,
    });
  }

  /**
   * Serve the connection until the client quits, vanishes or is timed out.
   * Between commands nothing waits (see {@linkcode ControlConnection}): an
   * idle session holds no pending read or suspended frame.
   */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.#ended = resolve;
      this.#start().catch((error) => this.stopped(error));
    });
  }

  async #start(): Promise<void> {
    const { options } = this.context;
    // Implicit TLS: the handshake comes first (with its own deadline); no
    // reply may be written before it, not even a timeout's 421.
    if (this.#implicitTls) {
      this.#handshaking = true; // terminate() (shutdown) must not write a plain 421 into it
      try {
        await this.#startTls();
      } catch (error) {
        this.log("warn", "TLS handshake failed", { error: String(error) });
        return this.stopped();
      } finally {
        this.#handshaking = false;
      }
      this.state.protectionBufferSizeSet = true;
      this.state.protection = "P";
    }
    this.armLoginTimer(options.loginTimeoutMs);
    this.#armIdleTimer();
    await this.reply(Reply.ServiceReady, `Hello from ${sanitizeReplyText(options.serverName)}.`);
    this.#read();
  }

  #read(): void {
    this.#connectionReplaced = false;
    this.readLines(this.context.options.maxLineBytes);
  }

  /** One command line from the reader; `false` stops reading. */
  async line(line: ControlLine): Promise<boolean> {
    const { options } = this.context;
    this.#armIdleTimer();
    if (line.tooLong) {
      await this.reply(
        Reply.SyntaxError,
        `Command line too long (limit ${options.maxLineBytes} bytes)`,
      );
      return true;
    }
    const command = parseCommandLine(line.text, this.context.commands);
    const spec = this.context.commands.get(command.verb);
    if (!this.busy) {
      await this.dispatch(command, spec);
    } else if (spec?.duringTransfer) {
      await this.dispatch(command, spec); // ABOR, STAT, QUIT: at once
    } else {
      // Other commands wait for the transfer, in order, while reading goes on
      // (so an ABOR behind them is still seen); a long queue stops reading.
      const queue = this.#queue ??= [];
      queue.push({ line: command, spec });
      this.#queueRunner ??= this.#runQueue();
      if (queue.length >= MAX_QUEUED_COMMANDS) await this.#queueRunner;
    }
    // After AUTH TLS, lines still buffered from the plain connection are dropped.
    return !(this.#closing || this.#connectionReplaced);
  }

  /**
   * The reader stopped: after AUTH TLS, read the TLS connection; otherwise
   * (the client left, QUIT, a timeout, a failure) clean up and end the session.
   */
  stopped(error?: unknown): void {
    if (error !== undefined) this.logFailure("Session", error);
    else if (this.#connectionReplaced && !this.#closing) return this.#read();
    this.#cleanUp()
      .catch((error) => this.logFailure("Session clean-up", error))
      .finally(() => this.#ended?.());
  }

  /**
   * End this session (and only it) after a failure inside one of its own
   * promises: log it, stop reading, drop the control connection.
   */
  #fail(what: string, error: unknown): void {
    this.logFailure(what, error);
    this.#closing = true;
    this.#transfer?.controller.abort(new TransferAbort(Reply.TransferAborted, "Session failed"));
    closeQuietly(this.connection);
  }

  /** A transfer runs, or commands wait for one. */
  get busy(): boolean {
    return this.#transfer !== undefined || this.#queueRunner !== undefined;
  }

  /**
   * Serve the commands queued behind a transfer. Runs beside the read loop, so
   * it never rejects: a failure (a reply written to a reset connection) ends
   * this session, not the process.
   */
  async #runQueue(): Promise<void> {
    try {
      while (this.#queue && this.#queue.length > 0) {
        await this.#transfer?.done;
        if (this.#closing) break;
        const { line, spec } = this.#queue.shift()!;
        await this.dispatch(line, spec);
      }
    } catch (error) {
      this.#fail(`Queued command`, error);
    } finally {
      this.#queue = undefined;
      this.#queueRunner = undefined;
    }
  }

  /** Run one command through the check pipeline and its handler. */
  dispatch(line: CommandLine, spec: CommandSpec | undefined): Promise<void> {
    const revalidation = this.#revalidation;
    return dispatchCommand(
      this.#commandContext,
      line,
      spec,
      revalidation ? () => revalidation.check() : () => Promise.resolve(true),
    );
  }

  /**
   * AUTH TLS: stop reading plain text, send 234, then run the handshake on the
   * control connection. Plain bytes the client sent after AUTH are discarded.
   */
  async upgradeToTls(): Promise<void> {
    const connection = this.connection;
    if (!(connection instanceof NodeSocketConnection) || !this.context.options.tls) {
      throw new FtpError(Reply.NotImplemented, "TLS is not available here");
    }
    connection.detach();
    await this.reply(Reply.SecurityAccepted, "Proceed with TLS negotiation");
    await this.flushReplies();
    this.#handshaking = true;
    try {
      await this.#startTls();
    } catch (error) {
      this.log("warn", "TLS handshake failed", { error: String(error) });
      this.close();
      this.#connectionReplaced = true;
      return;
    } finally {
      this.#handshaking = false;
    }
    this.#connectionReplaced = true;
  }

  async #startTls(): Promise<void> {
    const { tls, loginTimeoutMs } = this.context.options;
    await this.startTls(tls!.createContext(), loginTimeoutMs);
    this.log("debug", "TLS established on the control connection");
  }

  /** The context handed to the authenticator. */
  get authContext(): AuthContext {
    return { log: (level, message, fields) => this.log(level, message, fields) };
  }

  /** Forget the pending data connection (closing a pending listener). */
  clearDataSetup(): void {
    if (this.dataSetup?.kind === "passive") this.dataSetup.listener.close();
    this.dataSetup = undefined;
  }

  /**
   * Start a transfer whose checks passed: send 150 and move the data beside the
   * control loop. Without a data connection set up, replies 425 instead.
   */
  async startTransfer(request: TransferRequest): Promise<void> {
    const setup = this.dataSetup;
    if (this.context.options.tls?.requireTlsForData && this.protection !== "P") {
      request.release?.();
      throw new FtpError(
        Reply.ProtectionRequired,
        "Data connections must be protected: send PBSZ 0 and PROT P",
      );
    }
    this.dataSetup = undefined;
    if (!setup) {
      request.release?.();
      throw new FtpError(Reply.CantOpenDataConnection, "Use PASV, EPSV, PORT or EPRT first");
    }
    const controller = new AbortController();
    const progress = new TransferProgress();
    this.clearIdleTimer();
    try {
      await this.reply(Reply.OpeningDataConnection, request.openingText);
    } catch (error) {
      if (setup.kind === "passive") setup.listener.close();
      request.release?.();
      throw error;
    }
    // Awaited by the queue, ABOR, QUIT, shutdown and clean-up: it must never reject.
    const done = runTransferBeside(this, request, setup, controller, progress).catch((error) => {
      this.#transfer = undefined;
      this.#fail(`${request.command} transfer`, error);
    });
    this.#transfer = { request, progress, controller, done };
  }

  /** Run a task beside the control loop like a transfer, without a data connection (HASH). */
  startTask(request: TaskRequest): void {
    const controller = new AbortController();
    const progress = new TransferProgress();
    this.clearIdleTimer();
    const done = runTaskBeside(this, request, controller, progress).catch((error) => {
      this.#transfer = undefined;
      this.#fail(`${request.command} task`, error);
    });
    this.#transfer = { request, progress, controller, done };
  }

  /** Abort the running transfer (426 follows) and wait for its final reply. */
  async abortTransfer(
    code: number = Reply.TransferAborted,
    text = "Transfer aborted",
  ): Promise<boolean> {
    const transfer = this.#transfer;
    if (!transfer) return false;
    transfer.controller.abort(new TransferAbort(code, text));
    await transfer.done;
    return true;
  }

  /** Wait for the running transfer, if any, to end. */
  async waitForTransfer(): Promise<void> {
    while (this.busy) {
      await this.#queueRunner;
      await this.#transfer?.done;
    }
  }

  /** The running transfer (or task) is over (before its event and final reply). */
  transferEnded(): void {
    this.#transfer = undefined;
    this.#armIdleTimer();
  }

  /**
   * Emit an event for a file operation that has no data connection (DELE,
   * RNTO…). The caller logs it, with the reason of a refusal.
   */
  recordOperation(
    kind: TransferKind,
    command: string,
    path: string,
    error?: unknown,
    from?: string,
  ): Promise<void> {
    return emitOperation(this, kind, command, path, error, from);
  }

  /** Mark the session as logged in. */
  async logIn(user: FtpUser, storage: StorageConnector): Promise<void> {
    this.#user = user;
    this.#storage = storage;
    this.#revalidation?.loggedIn();
    this.state.pendingUsername = undefined;
    this.clearLoginTimer();
    this.context.emit("login", this.eventDetail);
    this.log("info", "Logged in");
    try {
      await this.reply(Reply.LoggedIn, "Login successful");
    } catch (error) {
      // The client left while its login was checked: that is no storage failure
      // (PASS treats any throw from here as one); the read loop ends the session.
      if (!isConnectionError(error)) throw error;
      this.logFailure("Login", error);
      this.close();
    }
  }

  /** End the session after the current reply: QUIT and fatal conditions. */
  close(): void {
    this.#closing = true;
  }

  /**
   * Send 421 and drop the connection (timeouts, shutdown). Called from timers,
   * so it never throws, and the promise chain it starts ends in a catch.
   */
  terminate(text: string): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#closing = true;
    try {
      this.log("info", text);
      this.#transfer?.controller.abort(
        new TransferAbort(Reply.TransferAborted, "Transfer aborted: " + text),
      );
      const transferDone = this.#transfer?.done ?? Promise.resolve();
      if (this.#handshaking) {
        // Mid-handshake, a plain 421 would be garbage to the client's TLS: just close.
        closeQuietly(this.connection);
        return;
      }
      this.replyAndClose(transferDone, Reply.ServiceNotAvailable, text)
        .catch((error) => this.#fail("Terminating", error));
    } catch (error) {
      this.#fail("Terminating", error);
    }
  }

  /**
   * Shut down gracefully: a running transfer may finish (the signal aborts it
   * when the grace period ends), then 421 and close.
   */
  async shutdown(abortTransfers: AbortSignal): Promise<void> {
    const transfer = this.#transfer;
    if (transfer) {
      const onAbort = () =>
        transfer.controller.abort(
          new TransferAbort(Reply.TransferAborted, "Transfer aborted: server shutting down"),
        );
      abortTransfers.addEventListener("abort", onAbort, { once: true });
      await transfer.done; // never rejects
      abortTransfers.removeEventListener("abort", onAbort);
    }
    this.terminate("Server shutting down");
  }

  #armIdleTimer(): void {
    // Paused while data moves; never again once the session ends (the end of a
    // transfer the clean-up aborted must not re-arm what the clean-up cleared).
    if (this.#transfer || this.#closing) return this.clearIdleTimer();
    this.armIdleTimer(this.context.options.idleTimeoutMs);
  }

  async #cleanUp(): Promise<void> {
    this.#closing = true;
    this.clearLoginTimer();
    this.clearIdleTimer();
    // A reply the client doesn't read (it may have half-closed) can't hold the
    // session: once this deadline passes the socket is dropped, which fails the write.
    const hardClose = setTimeout(() => closeQuietly(this.connection), CLEANUP_DEADLINE_MS);
    // The control connection is gone: an unfinished upload must not be stored.
    this.#transfer?.controller.abort(
      new TransferAbort(Reply.TransferAborted, "Control connection closed"),
    );
    await this.#transfer?.done;
    await this.#queueRunner;
    this.clearDataSetup();
    await this.closeConnection();
    clearTimeout(hardClose);
    try {
      await this.#storage?.close?.();
    } catch (error) {
      this.log("warn", "Storage close failed", { error: String(error) });
    }
  }
}
