/**
 * A {@linkcode ByteConnection} over a `node:net` socket, which, unlike a
 * native `Deno.Conn`, can be upgraded to TLS in place as the server side
 * (AUTH TLS on the control connection, active PROT P data connections). Every
 * control connection uses it; plain data connections never do, since native
 * sockets are several times faster for bulk data here.
 *
 * @module
 */

import type { Socket } from "node:net";
import * as tls from "node:tls";
import type { ByteConnection } from "./connection.ts";

/** Told when a connection read without a pending read has something to say. */
export interface ReadableListener {
  /** {@linkcode NodeSocketConnection.take} would now return bytes, the end, or throw. */
  readable(): void;
}

/**
 * Stop reading a control connection (plain or TLS) when this much unread
 * data is queued: command lines are short (4 KiB by default), and a client
 * that floods while the session can't read (a failed login's delay, a reply
 * it doesn't read) must cost no more than a few such lines, before login or
 * after, over TLS or not. One chunk may overshoot it (up to 64 KiB plain, a
 * 16 KiB record over TLS). Measured on Deno 2.9 with 40 flooding clients:
 * 64 KiB here cost TLS sessions about 60 KiB more each than 16 KiB.
 */
const CONTROL_HIGH_WATER_BYTES = 16 << 10;
/**
 * The same for TLS data connections, much higher: on Deno 2.9, stopping reads under a
 * TLS socket just as the peer's close_notify arrives loses the end of the
 * stream (measured: an exactly-1-MiB PROT P upload from curl or lftp hung),
 * so TLS reads stop only when storage falls far behind the network.
 */
const TLS_HIGH_WATER_BYTES = 32 << 20;

/** Options for {@linkcode NodeSocketConnection.startTls}. */
export interface StartTlsOptions {
  /** The context (certificate, key, session ticket keys). */
  secureContext: tls.SecureContext;
  /** Handshake deadline in ms. */
  timeoutMs: number;
  /** Stop reading when this much unread data is queued. */
  highWaterBytes: number;
}

function toAddr(hostname: string | undefined, port: number | undefined): Deno.NetAddr {
  return { transport: "tcp", hostname: hostname ?? "0.0.0.0", port: port ?? 0 };
}

/**
 * The connection a socket's events go to. The listeners are shared functions
 * that find it here, not four closures per connection: measured on Deno 2.9,
 * the closures (and their context) were about 260 bytes of each idle session.
 */
const CONNECTION = Symbol("NodeSocketConnection");
type OwnedSocket = Socket & { [CONNECTION]: NodeSocketConnection };

/** A node socket (plain or TLS) behind the server's connection interface. */
export class NodeSocketConnection implements ByteConnection {
  readonly #socket: Socket;
  /** What is paused for back-pressure: the TCP socket under a TLS one (see setReading). */
  readonly #flowControl: Socket;
  /** The addresses given (a TLS socket's, taken from the socket under it). */
  readonly #addresses?: { local: Deno.NetAddr; remote: Deno.NetAddr };
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error?: Error;
  #closed = false;
  /** Who waits for bytes: a pending {@linkcode read}, or a {@linkcode whenReadable} listener. */
  #listener?: ReadableListener;
  #detached = false;
  #paused = false;
  readonly #highWater: number;

  /**
   * Wrap `socket`, reading from it from now on (unless `unread`: then it is
   * never read as plain bytes, only handed to TLS by {@linkcode startTls}).
   */
  constructor(
    socket: Socket,
    addresses?: { local: Deno.NetAddr; remote: Deno.NetAddr },
    unread = false,
    flowControl: Socket = socket,
    highWaterBytes = CONTROL_HIGH_WATER_BYTES,
  ) {
    this.#socket = socket;
    this.#flowControl = flowControl;
    this.#highWater = highWaterBytes;
    this.#addresses = addresses;
    // Asked now, the socket keeps both addresses (as its own fields) after it closes.
    if (!addresses) void [socket.localAddress, socket.remoteAddress];
    (socket as OwnedSocket)[CONNECTION] = this;
    this.#detached = unread;
    if (!unread) socket.on("data", NodeSocketConnection.#onData);
    socket.on("end", NodeSocketConnection.#onEnd);
    socket.on("error", NodeSocketConnection.#onError);
    socket.on("close", NodeSocketConnection.#onClose);
  }

  /** The local end. */
  get localAddr(): Deno.NetAddr {
    const socket = this.#socket;
    return this.#addresses?.local ?? toAddr(socket.localAddress, socket.localPort);
  }

  /** The peer. */
  get remoteAddr(): Deno.NetAddr {
    const socket = this.#socket;
    return this.#addresses?.remote ?? toAddr(socket.remoteAddress, socket.remotePort);
  }

  /** The underlying socket (a `TLSSocket` once upgraded). */
  get socket(): Socket {
    return this.#socket;
  }

  /** Bytes received but not read yet (bounded by back-pressure). */
  get bufferedBytes(): number {
    return this.#queued;
  }

  /** True when the socket speaks TLS. */
  get encrypted(): boolean {
    return this.#socket instanceof tls.TLSSocket;
  }

  /** True when this TLS connection resumed an earlier TLS session. */
  get sessionReused(): boolean {
    return this.#socket instanceof tls.TLSSocket && this.#socket.isSessionReused();
  }

  static #onData(this: OwnedSocket, chunk: Uint8Array): void {
    this[CONNECTION].#received(chunk);
  }

  static #onEnd(this: OwnedSocket): void {
    this[CONNECTION].#end();
  }

  static #onClose(this: OwnedSocket): void {
    this[CONNECTION].#end();
  }

  static #onError(this: OwnedSocket, error: Error): void {
    this[CONNECTION].#failed(error);
  }

  #received(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued >= this.#highWater && !this.#paused) {
      this.#paused = true;
      setReading(this.#flowControl, false);
    }
    this.#notify();
  }

  #end(): void {
    this.#ended = true;
    this.#notify();
  }

  #failed(error: Error): void {
    this.#error ??= error;
    this.#notify();
  }

  #notify(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.readable();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      const bytes = this.take(buffer.length);
      if (bytes === null) return null;
      if (bytes !== undefined) {
        buffer.set(bytes);
        return bytes.length;
      }
      await new Promise<void>((resolve) => this.whenReadable({ readable: resolve }));
    }
  }

  /**
   * Read without waiting: up to `maxBytes` unread bytes (a view of what was
   * received, not a copy), `undefined` when none has arrived yet, `null` at
   * the end of the stream; throws the connection's error once the bytes
   * before it are taken. With {@linkcode whenReadable}, a connection is read
   * with nothing pending between reads (an idle control connection).
   */
  take(maxBytes: number): Uint8Array | null | undefined {
    if (this.#detached) throw new Deno.errors.BadResource("Connection was handed over to TLS");
    if (this.#queue.length > 0) {
      const head = this.#queue[0];
      const n = Math.min(head.length, maxBytes);
      const bytes = n === head.length ? head : head.subarray(0, n);
      if (n < head.length) this.#queue[0] = head.subarray(n);
      else if (this.#queue.length > 1) this.#queue.shift();
      else this.#queue = []; // an emptied array keeps its backing store: drop it
      this.#queued -= n;
      if (this.#queued < this.#highWater / 2 && this.#paused) {
        this.#paused = false;
        setReading(this.#flowControl, true);
      }
      return bytes;
    }
    if (this.#error) throw asDenoError(this.#error);
    if (this.#ended || this.#closed) return null;
    return undefined;
  }

  /** Call `listener.readable()` once, when {@linkcode take} has something to say. */
  whenReadable(listener: ReadableListener): void {
    this.#listener = listener;
  }

  write(data: Uint8Array): Promise<number> {
    const socket = this.#socket;
    if (this.#error) return Promise.reject(asDenoError(this.#error));
    if (this.#closed || socket.destroyed || socket.writableEnded) {
      return Promise.reject(new Deno.errors.BrokenPipe("Connection closed"));
    }
    // Copy: the caller may reuse its buffer as soon as we resolve.
    const flushed = socket.write(new Uint8Array(data));
    if (flushed) return Promise.resolve(data.length);
    return new Promise((resolve, reject) => {
      const done = () => {
        socket.off("drain", done);
        socket.off("close", done);
        socket.off("error", done);
        if (this.#error) reject(asDenoError(this.#error));
        else if (socket.destroyed) reject(new Deno.errors.BrokenPipe("Connection closed"));
        else resolve(data.length);
      };
      socket.on("drain", done);
      socket.on("close", done);
      socket.on("error", done);
      if (socket.destroyed) done(); // closed before we listened
    });
  }

  /** Send what is buffered, end the stream (TLS close_notify first), then close. */
  closeGracefully(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#socket.writableFinished || this.#socket.destroyed) {
      // Already ended (a peer's end-of-stream ends ours too): nothing to wait for.
      this.close();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const socket = this.#socket;
      function finish() {
        clearTimeout(timer);
        socket.off("finish", finish);
        socket.off("close", finish);
        resolve();
      }
      socket.once("finish", finish);
      socket.once("close", finish);
      socket.end();
    }).finally(() => this.close());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#notify();
  }

  /**
   * Stop reading plain text: the socket is paused and bytes received but not
   * read are discarded (a client must not inject commands that would seem to
   * come through TLS). Writing still works, for the 234 reply.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#socket.off("data", NodeSocketConnection.#onData);
    this.#socket.pause();
    this.#queue = [];
    this.#queued = 0;
  }

  /**
   * Hand the control socket to TLS as the server side; resolves once the
   * handshake is done. The TLS connection keeps the control connection's
   * small read buffer.
   */
  async startTls(
    options: Omit<StartTlsOptions, "highWaterBytes">,
  ): Promise<NodeSocketConnection> {
    this.detach();
    const socket = this.#socket;
    socket.off("end", NodeSocketConnection.#onEnd);
    socket.off("close", NodeSocketConnection.#onClose);
    const secure = await handshake(socket, {
      ...options,
      highWaterBytes: CONTROL_HIGH_WATER_BYTES,
    }, {
      local: this.localAddr,
      remote: this.remoteAddr,
    });
    socket.off("error", NodeSocketConnection.#onError);
    socket.on("error", () => {}); // from now on errors surface on the TLS socket
    return secure;
  }

  /** A paused socket that must speak TLS from its first byte (implicit FTPS). */
  static unread(socket: Socket): NodeSocketConnection {
    return new NodeSocketConnection(socket, undefined, true);
  }

  /** Start reading a paused socket as plain bytes. */
  static plain(socket: Socket): NodeSocketConnection {
    const connection = new NodeSocketConnection(socket);
    socket.resume();
    return connection;
  }

  /** Wrap a data socket that was never read from (PROT P) as the TLS server side. */
  static acceptTls(
    socket: Socket,
    options: Omit<StartTlsOptions, "highWaterBytes">,
  ): Promise<NodeSocketConnection> {
    const local = toAddr(socket.localAddress, socket.localPort);
    const remote = toAddr(socket.remoteAddress, socket.remotePort);
    socket.on("error", () => {});
    return handshake(socket, { ...options, highWaterBytes: TLS_HIGH_WATER_BYTES }, {
      local,
      remote,
    });
  }
}

/**
 * Run the server side of a TLS handshake over `socket`, with a deadline. The
 * connection's listeners are attached at once, before the handshake ends:
 * measured on Deno 2.9, a TLS socket that is not flowing when the peer's
 * data and close_notify arrive (a fast client does both right after the
 * handshake) never reports the end of the stream.
 */
async function handshake(
  socket: Socket,
  options: StartTlsOptions,
  addresses: { local: Deno.NetAddr; remote: Deno.NetAddr },
): Promise<NodeSocketConnection> {
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: options.secureContext,
  });
  const connection = new NodeSocketConnection(
    secure,
    addresses,
    false,
    socket,
    options.highWaterBytes,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Deno.errors.TimedOut("TLS handshake timed out")),
        options.timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        secure.off("close", onClose);
        reject(error);
      };
      const onClose = () => fail(new Deno.errors.ConnectionReset("Closed during TLS handshake"));
      secure.once("secure", () => {
        clearTimeout(timer);
        secure.off("error", fail);
        secure.off("close", onClose);
        resolve();
      });
      secure.once("error", fail);
      secure.once("close", onClose);
    });
  } catch (error) {
    connection.close();
    socket.destroy();
    throw error;
  }
  return connection;
}

/**
 * Back-pressure by starting and stopping reads on the TCP handle. Measured on
 * Deno 2.9: `pause()`/`resume()` on a server-side `TLSSocket` (or on the TCP
 * socket under it) stops the flow for good, and the peer's close_notify is
 * never seen, so uploads over PROT P hang; stopping the handle's reads gives
 * bounded buffering and keeps end-of-stream working.
 */
function setReading(socket: Socket, reading: boolean): void {
  const handle = (socket as unknown as {
    _handle?: { readStop?(): unknown; readStart?(): unknown };
  })._handle;
  if (handle?.readStop && handle.readStart) {
    if (reading) handle.readStart();
    else handle.readStop();
  } else if (reading) {
    socket.resume();
  } else {
    socket.pause();
  }
}

/** Give node socket errors the Deno error classes the rest of the server knows. */
function asDenoError(error: Error): Error {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(error.message, { cause: error });
    case "EPIPE":
      return new Deno.errors.BrokenPipe(error.message, { cause: error });
    case "ECONNABORTED":
      return new Deno.errors.ConnectionAborted(error.message, { cause: error });
    default:
      return new Deno.errors.ConnectionAborted(error.message, { cause: error });
  }
}
