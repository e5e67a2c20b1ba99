/**
 * An in-process command harness: one real session (the whole dispatch
 * pipeline and every handler) over in-memory control and data connections,
 * so a command can be tested without a socket, the way hono's `app.request()`
 * tests a route.
 *
 * @module
 */

import { PassthroughAuthenticator } from "../auth/passthrough.ts";
import type { Authenticator, FtpUser } from "../auth/types.ts";
import { buildCommandTable } from "../commands/table.ts";
import type { ByteConnection } from "../data/connection.ts";
import type { DataListener, PassiveListenOptions, RawDataSocket } from "../data/passive.ts";
import { FtpError } from "../errors.ts";
import type { FtpServerEventMap } from "../events.ts";
import { silentLogger } from "../log.ts";
import { LoginGuard } from "../login_guard.ts";
import { SessionLimits } from "../cluster/session_limits.ts";
import { MemoryState } from "../cluster/state.ts";
import { type FtpServerOptions, resolveOptions } from "../options.ts";
import { Reply } from "../replies.ts";
import { Session } from "../session.ts";
import type { SessionContext } from "../session_context.ts";
import type { StorageProvider } from "../storage/types.ts";
import { type FtpReply, readReply } from "./raw_client.ts";

/** Options of {@linkcode commandHarness}. */
export interface CommandHarnessOptions {
  /** The storage the session serves (a `MemoryStorage`, usually), or a per-user provider. */
  storage: StorageProvider;
  /**
   * Log in as this user before the first command (USER and PASS through the
   * authenticator). A user object is what the default authenticator returns
   * for its name (to test `readOnly` or `home`). Unset: not logged in.
   */
  user?: string | FtpUser;
  /**
   * Who may log in. @default {PassthroughAuthenticator} (any name but root),
   * or, when `user` is an object, one that accepts that user only
   */
  authenticator?: Authenticator;
  /**
   * Any other server option. The harness sets `logger: silentLogger`,
   * `loginFailureDelayMs: 0` and `banAfterFailures: 0` unless given here.
   */
  options?: Omit<FtpServerOptions, "storage" | "authenticator">;
  /** The client's address, as the session sees it. @default {"127.0.0.1"} */
  remoteAddress?: string;
}

/** What one command produced. */
export interface HarnessReply extends FtpReply {
  /** Every reply of the command, in order: for a transfer the 150 and the final one. */
  replies: FtpReply[];
  /** The bytes the server sent over the data connection (RETR, LIST, NLST, MLSD). */
  data: Uint8Array;
}

/** A server event the session dispatched. */
export interface HarnessEvent {
  /** The event's name. */
  type: keyof FtpServerEventMap;
  /** Its detail. */
  detail: FtpServerEventMap[keyof FtpServerEventMap]["detail"];
}

/** A session driven in-process; see {@linkcode commandHarness}. */
export interface CommandHarness extends AsyncDisposable {
  /**
   * Send one command line and read its reply. When the reply is 150 and a
   * passive data connection was set up (PASV/EPSV), the harness connects it,
   * sends `upload` (or reads what the server sends) and reads the final
   * reply too; `code` and `text` are the last reply's.
   */
  run(line: string, upload?: Uint8Array | string): Promise<HarnessReply>;
  /** EPSV, then {@linkcode CommandHarness.run}: a whole transfer in one call. */
  transfer(line: string, upload?: Uint8Array | string): Promise<HarnessReply>;
  /** {@linkcode CommandHarness.transfer} of a listing, split into its CRLF lines. */
  listing(line: string): Promise<{ lines: string[]; replies: FtpReply[] }>;
  /** Send raw text on the control connection, reading nothing. */
  write(text: string | Uint8Array): Promise<void>;
  /** Read the next reply. */
  read(): Promise<FtpReply>;
  /** The 220 greeting. */
  greeting(): Promise<FtpReply>;
  /** Every event the session dispatched so far, in order. */
  readonly events: readonly HarnessEvent[];
  /** Resolves when the session has ended (QUIT, a 421, or {@linkcode CommandHarness.close}). */
  readonly ended: Promise<void>;
  /** Close the control connection and wait for the session to clean up. */
  close(): Promise<void>;
}

/**
 * Run FTP commands against a storage connector in-process: one real session
 * with the server's command table, over in-memory connections. Passive data
 * connections are in-memory too, so LIST, RETR and STOR work; active mode
 * (PORT/EPRT) would reach the network and is for socket tests.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@exftp/server";
 * import { commandHarness } from "@exftp/server/testing";
 *
 * await using h = commandHarness({ storage: new MemoryStorage(), user: "alice" });
 * console.log((await h.run("MKD x")).code); // 257
 * console.log((await h.transfer("STOR x/a.txt", "hello")).code); // 226
 * console.log((await h.transfer("RETR x/a.txt")).data.length); // 5
 * ```
 */
export function commandHarness(options: CommandHarnessOptions): CommandHarness {
  return new InProcessHarness(options);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SERVER_ADDRESS = "127.0.0.1";
const SERVER_PORT = 21;

class InProcessHarness implements CommandHarness {
  readonly events: HarnessEvent[] = [];
  readonly ended: Promise<void>;
  readonly #control: PipeEnd;
  readonly #replies: ReplyReader;
  readonly #listeners: MemoryDataListener[] = [];
  readonly #greeting: Promise<FtpReply>;
  readonly #ready: Promise<void>;

  constructor(settings: CommandHarnessOptions) {
    const { user, remoteAddress = "127.0.0.1" } = settings;
    const authenticator = settings.authenticator ?? (typeof user === "object"
      ? {
        authenticate: ({ username }) => Promise.resolve(username === user.username ? user : null),
      } satisfies Authenticator
      : new PassthroughAuthenticator());
    const options = resolveOptions({
      logger: silentLogger,
      loginFailureDelayMs: 0,
      banAfterFailures: 0,
      ...settings.options,
      storage: settings.storage,
      authenticator,
    });
    const state = options.sharedState ?? new MemoryState();
    const context: SessionContext = {
      options,
      commands: buildCommandTable(),
      loginGuard: new LoginGuard(options.banAfterFailures, options.banMs, state),
      sessionLimits: new SessionLimits(state),
      sharedState: state,
      portPool: {
        listen: (_hostname: string, _clientHost: string, listen?: PassiveListenOptions) => {
          const listener = new MemoryDataListener(
            40000 + this.#listeners.length,
            remoteAddress,
            listen?.expiresInMs,
          );
          this.#listeners.push(listener);
          return Promise.resolve(listener);
        },
      },
      emit: (type, detail) => {
        this.events.push({ type, detail });
        return undefined;
      },
    };
    const [client, server] = PipeEnd.pair(remoteAddress, 50000);
    this.#control = client;
    this.#replies = new ReplyReader(client);
    this.ended = new Session(context, server).run();
    this.#greeting = this.#replies.read();
    this.#ready = this.#start(user);
    // Failures surface at the first command; none may go unhandled before it.
    this.#ready.catch(() => {});
  }

  async #start(user: string | FtpUser | undefined): Promise<void> {
    await this.#greeting;
    if (user === undefined) return;
    const name = typeof user === "string" ? user : user.username;
    const first = await this.#send(`USER ${name}`);
    const second = first.code === Reply.NeedPassword ? await this.#send("PASS harness") : first;
    if (second.code !== Reply.LoggedIn) {
      throw new Error(`Harness login as "${name}" failed: ${second.lines.join(" | ")}`);
    }
  }

  greeting(): Promise<FtpReply> {
    return this.#greeting;
  }

  async #send(line: string): Promise<FtpReply> {
    await this.#control.write(encoder.encode(line + "\r\n"));
    return await this.#replies.read();
  }

  async run(line: string, upload?: Uint8Array | string): Promise<HarnessReply> {
    await this.#ready;
    const first = await this.#send(line);
    const replies = [first];
    let data: Uint8Array = new Uint8Array();
    const listener = this.#listeners.at(-1);
    if (
      (first.code === Reply.OpeningDataConnection || first.code === Reply.DataConnectionOpen) &&
      listener && !listener.closed
    ) {
      const connection = listener.connect();
      if (upload === undefined) {
        data = await readAll(connection);
      } else {
        try {
          await connection.write(typeof upload === "string" ? encoder.encode(upload) : upload);
        } catch {
          // The server stopped reading (a refused or failed upload): its reply says why.
        }
      }
      connection.close();
      replies.push(await this.#replies.read());
    }
    const last = replies.at(-1)!;
    return { ...last, replies, data };
  }

  async transfer(line: string, upload?: Uint8Array | string): Promise<HarnessReply> {
    const epsv = await this.run("EPSV");
    if (epsv.code !== Reply.EnteringExtendedPassiveMode) return epsv;
    return await this.run(line, upload);
  }

  async listing(line: string): Promise<{ lines: string[]; replies: FtpReply[] }> {
    const { data, replies } = await this.transfer(line);
    const text = decoder.decode(data);
    return { lines: text === "" ? [] : text.replace(/\r\n$/, "").split("\r\n"), replies };
  }

  async write(text: string | Uint8Array): Promise<void> {
    await this.#ready;
    await this.#control.write(typeof text === "string" ? encoder.encode(text) : text);
  }

  async read(): Promise<FtpReply> {
    return await this.#replies.read();
  }

  async close(): Promise<void> {
    this.#control.close();
    await this.ended;
    await this.#ready.catch(() => {});
    for (const listener of this.#listeners) listener.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Reads whole replies (RFC 959 multi-line included) from a control connection. */
class ReplyReader {
  readonly #connection: ByteConnection;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(connection: ByteConnection) {
    this.#connection = connection;
  }

  read(): Promise<FtpReply> {
    return readReply(() => this.#readLine());
  }

  async #readLine(): Promise<string | null> {
    while (true) {
      const end = this.#buffer.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return line;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.#connection.read(chunk).catch(() => null);
      if (n === null) return null;
      this.#buffer += this.#decoder.decode(chunk.subarray(0, n), { stream: true });
    }
  }
}

async function readAll(connection: ByteConnection): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await connection.read(buffer).catch(() => null);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * One end of an in-memory connection. What one end writes the other reads;
 * closing an end is the peer's end of stream, and writing to a closed peer
 * fails as a reset socket would (`BrokenPipe`).
 */
class PipeEnd implements ByteConnection {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  #peer!: PipeEnd;
  #incoming: Uint8Array[] = [];
  #ended = false;
  #closed = false;
  #wake?: () => void;

  private constructor(local: Deno.NetAddr, remote: Deno.NetAddr) {
    this.localAddr = local;
    this.remoteAddr = remote;
  }

  /** A connected pair: the client's end (at `clientHost:clientPort`) and the server's. */
  static pair(clientHost: string, clientPort: number): [PipeEnd, PipeEnd] {
    const client: Deno.NetAddr = { transport: "tcp", hostname: clientHost, port: clientPort };
    const server: Deno.NetAddr = { transport: "tcp", hostname: SERVER_ADDRESS, port: SERVER_PORT };
    const a = new PipeEnd(client, server);
    const b = new PipeEnd(server, client);
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource("The connection is closed");
      const chunk = this.#incoming[0];
      if (chunk) {
        const n = Math.min(buffer.length, chunk.length);
        buffer.set(chunk.subarray(0, n));
        if (n === chunk.length) this.#incoming.shift();
        else this.#incoming[0] = chunk.subarray(n);
        return n;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("The connection is closed"));
    }
    if (this.#peer.#closed) return Promise.reject(new Deno.errors.BrokenPipe("The peer closed"));
    if (data.length > 0) this.#peer.#deliver(data.slice());
    return Promise.resolve(data.length);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#incoming = [];
    this.#notify();
    this.#peer.#ended = true;
    this.#peer.#notify();
  }

  #deliver(chunk: Uint8Array): void {
    this.#incoming.push(chunk);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** A passive listener whose connections are made by the harness, in memory. */
class MemoryDataListener implements DataListener {
  readonly port: number;
  readonly #clientHost: string;
  readonly #expiry?: ReturnType<typeof setTimeout>;
  #pending?: PipeEnd;
  #accepting?: { resolve(end: PipeEnd): void; reject(error: unknown): void };
  closed = false;

  constructor(port: number, clientHost: string, expiresInMs = Infinity) {
    this.port = port;
    this.#clientHost = clientHost;
    if (Number.isFinite(expiresInMs)) this.#expiry = setTimeout(() => this.close(), expiresInMs);
  }

  /** The client connects: returns its end; the server's end goes to `accept`. */
  connect(): PipeEnd {
    const [client, server] = PipeEnd.pair(this.#clientHost, 50001 + this.port);
    clearTimeout(this.#expiry);
    if (this.#accepting) this.#accepting.resolve(server);
    else this.#pending = server;
    return client;
  }

  accept(timeoutMs: number): Promise<RawDataSocket> {
    // The session treats a socket that is neither node:net nor native TLS as a
    // plain connection: an in-memory end passes as one.
    const asSocket = (end: PipeEnd) => end as unknown as RawDataSocket;
    if (this.#pending) {
      const end = this.#pending;
      this.#pending = undefined;
      this.close();
      return Promise.resolve(asSocket(end));
    }
    if (this.closed) return Promise.reject(notConnected());
    const { promise, resolve, reject } = Promise.withResolvers<PipeEnd>();
    const timer = setTimeout(() => this.close(), timeoutMs);
    this.#accepting = { resolve, reject };
    return promise.then(asSocket).finally(() => {
      clearTimeout(timer);
      this.#accepting = undefined;
      this.close();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#expiry);
    this.#accepting?.reject(notConnected());
    this.#pending?.close();
  }
}

function notConnected(): FtpError {
  return new FtpError(
    Reply.CantOpenDataConnection,
    "Can't open data connection: the client did not connect",
  );
}
