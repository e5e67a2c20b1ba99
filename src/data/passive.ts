/**
 * Passive mode: a pool of ports to listen on, and one pending listener per
 * session that accepts a single data connection from the client's address.
 * Plain sessions listen natively (fast); sessions whose control connection
 * is TLS listen with `node:net`, whose sockets can be upgraded for PROT P.
 *
 * @module
 */

import * as net from "node:net";
import { FtpError } from "../errors.ts";
import { Reply } from "../replies.ts";
import type { TlsSettings } from "../tls.ts";
import { closeQuietly, normalizeHost } from "./connection.ts";

/**
 * Which socket implementation a data connection uses: `native` plain sockets
 * (fast), `native-tls` listeners that speak TLS (PROT P), or `node` sockets
 * that can be upgraded in place.
 */
export type SocketKind = "native" | "native-tls" | "node";

/**
 * Which listener a session's next passive data connection needs: native for
 * clear data; for protected data (PROT P) native TLS where it honours every
 * `tls` setting, otherwise a node:net listener whose sockets get node:tls
 * with the session's own context (minimum version, certificate, tickets).
 */
export function passiveSocketKind(protectData: boolean, tls?: TlsSettings): SocketKind {
  if (!protectData || !tls) return "native";
  return tls.nativeDataListener ? "native-tls" : "node";
}

/**
 * A data socket as accepted or connected, before the transfer decides whether
 * to speak TLS over it: a native connection, or a `node:net` socket that has
 * not been read from.
 */
export type RawDataSocket = Deno.TcpConn | Deno.TlsConn | net.Socket;

/** A listener waiting for the client's data connection. */
export interface DataListener {
  /** The port the client must connect to. */
  readonly port: number;
  /**
   * Accept the client's connection: only from the client's address (others
   * are closed silently and the wait goes on). Rejects with 425 after
   * `timeoutMs`, when the listener expires (see {@linkcode PassiveListenOptions}),
   * or when it is closed (a new PASV, ABOR, the end).
   */
  accept(timeoutMs: number): Promise<RawDataSocket>;
  /** Stop listening (idempotent). */
  close(): void;
}

/** Options of {@linkcode PassivePortPool.listen}. */
export interface PassiveListenOptions {
  /** Which socket implementation. @default {"native"} */
  kind?: SocketKind;
  /** Certificate and key, for `native-tls`. */
  pem?: { cert: string; key: string };
  /**
   * Release the port this long after listening unless the client connected by
   * then (`passive_accept_timeout_s`, counted from PASV/EPSV as pyftpdlib
   * does), so a session that never connects can't hold a port while it idles.
   * @default {Infinity}
   */
  expiresInMs?: number;
}

/**
 * Hands out listeners on random ports of a range. A busy port is skipped; an
 * exhausted range is a 425 reply, never a crash. A range of `0`–`0` lets the
 * system pick any free port.
 */
export class PassivePortPool {
  readonly #min: number;
  readonly #max: number;

  /** A pool over `min`..`max` inclusive. */
  constructor(min: number, max: number) {
    if (min > max) throw new RangeError(`Passive port range is empty: ${min} > ${max}`);
    this.#min = min;
    this.#max = max;
  }

  /** Listen on a free port of the range at `hostname`, for `clientHost` only. */
  async listen(
    hostname: string,
    clientHost: string,
    options: PassiveListenOptions = {},
  ): Promise<DataListener> {
    const { kind = "native", pem, expiresInMs = Infinity } = options;
    const open = kind === "node"
      ? (port: number) => NodePassiveListener.open(hostname, port, clientHost, expiresInMs)
      : kind === "native-tls"
      ? (port: number) =>
        Promise.resolve(
          new PassiveListener(
            Deno.listenTls({ hostname, port, ...pem! }),
            clientHost,
            expiresInMs,
          ),
        )
      : (port: number) =>
        Promise.resolve(
          new PassiveListener(Deno.listen({ hostname, port }), clientHost, expiresInMs),
        );
    if (this.#min === 0) return await open(0);
    const size = this.#max - this.#min + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = this.#min + (start + i) % size;
      try {
        return await open(port);
      } catch (error) {
        if (isBusy(error)) continue;
        throw error;
      }
    }
    throw new PassivePortsExhausted(this.#min, this.#max);
  }
}

/** Every port of the passive range is in use: a 425 for the client, a warning for the operator. */
export class PassivePortsExhausted extends FtpError {
  /** The range that is full. */
  constructor(readonly min: number, readonly max: number) {
    super(Reply.CantOpenDataConnection, "No passive port available; try again later");
    this.name = "PassivePortsExhausted";
  }
}

function expiryTimer(expiresInMs: number, expire: () => void) {
  return Number.isFinite(expiresInMs) ? setTimeout(expire, expiresInMs) : undefined;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied ||
    code === "EADDRINUSE" || code === "EACCES";
}

/** A native passive listener (plain, or TLS from the first byte for PROT P). */
export class PassiveListener implements DataListener {
  readonly #listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>;
  readonly #clientHost: string;
  readonly #expiry?: ReturnType<typeof setTimeout>;
  #closed = false;

  /** Wrap `listener`, accepting only connections from `clientHost`, until it expires. */
  constructor(
    listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>,
    clientHost: string,
    expiresInMs = Infinity,
  ) {
    this.#listener = listener;
    this.#clientHost = normalizeHost(clientHost);
    this.#expiry = expiryTimer(expiresInMs, () => this.close());
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async accept(timeoutMs: number): Promise<Deno.TcpConn | Deno.TlsConn> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      while (true) {
        let conn: Deno.TcpConn | Deno.TlsConn;
        try {
          conn = await this.#listener.accept();
        } catch {
          throw new FtpError(
            Reply.CantOpenDataConnection,
            "Can't open data connection: the client did not connect",
          );
        }
        if (normalizeHost(conn.remoteAddr.hostname) === this.#clientHost) return conn;
        closeQuietly(conn); // foreign address: bounce/hijack attempt
      }
    } finally {
      clearTimeout(timer);
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    closeQuietly(this.#listener);
  }
}

/** A `node:net` passive listener, for sessions that may protect data with TLS. */
export class NodePassiveListener implements DataListener {
  readonly #server: net.Server;
  readonly #clientHost: string;
  readonly #waiting: net.Socket[] = [];
  readonly #expiry?: ReturnType<typeof setTimeout>;
  #wake?: () => void;
  #closed = false;

  readonly port: number;

  private constructor(server: net.Server, clientHost: string, expiresInMs: number) {
    this.#server = server;
    this.#expiry = expiryTimer(expiresInMs, () => this.close());
    this.port = (server.address() as net.AddressInfo).port;
    this.#clientHost = normalizeHost(clientHost);
    server.on("connection", (socket) => {
      socket.on("error", () => {});
      if (this.#closed || normalizeHost(socket.remoteAddress ?? "") !== this.#clientHost) {
        socket.destroy(); // foreign address: bounce/hijack attempt
        return;
      }
      this.#waiting.push(socket);
      this.#wake?.();
    });
  }

  /** Listen on `port` (0: any). Rejects with the node error (EADDRINUSE…) when busy. */
  static open(
    hostname: string,
    port: number,
    clientHost: string,
    expiresInMs = Infinity,
  ): Promise<NodePassiveListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true });
      server.once("error", reject);
      server.listen({ host: hostname, port, exclusive: true }, () => {
        server.off("error", reject);
        server.on("error", () => {});
        resolve(new NodePassiveListener(server, clientHost, expiresInMs));
      });
    });
  }

  async accept(timeoutMs: number): Promise<net.Socket> {
    const deadline = Date.now() + timeoutMs;
    try {
      while (this.#waiting.length === 0) {
        if (this.#closed || Date.now() >= deadline) {
          throw new FtpError(
            Reply.CantOpenDataConnection,
            "Can't open data connection: the client did not connect",
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - Date.now());
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
      return this.#waiting.shift()!;
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    this.#server.close();
    for (const socket of this.#waiting.splice(0)) socket.destroy();
    this.#wake?.();
  }
}
