/**
 * One listening passive port and the sessions waiting on it. Every accepted
 * connection is told apart by its client address — the peer's, or the PROXY
 * header's source when the peer is a trusted balancer — and handed to the
 * waiting session of that address; anything else is closed without a word.
 * Without port sharing a port has one waiter; with it, one per client address.
 *
 * @module
 */

import * as net from "node:net";
import { FtpError } from "../errors.ts";
import { Reply } from "../replies.ts";
import { closeQuietly, normalizeHost } from "./connection.ts";

/** The PROXY header code, loaded only once a trusted balancer connects (RSS after start, issue 16). */
const proxyReader = () => import("../proxy/read.ts");

/** A data socket as accepted, before the transfer decides whether to speak TLS over it. */
export type AcceptedSocket = Deno.TcpConn | Deno.TlsConn | net.Socket;

/** Which peers put a PROXY header before their data connections. */
export interface ProxyTrust {
  /** Whether `peer` (a normalized address) is a trusted balancer. */
  contains(peer: string): boolean;
}

/** How a port tells whom a connection is from. */
export interface PortIdentity {
  /** Trusted balancers (their connections must start with a PROXY header). */
  readonly proxyFrom?: ProxyTrust;
  /** The deadline for that header, in ms. */
  readonly headerTimeoutMs: number;
}

const CANT_OPEN = "Can't open data connection: the client did not connect";

/** A listening port with its waiters, keyed by client address. */
export class PassivePort {
  readonly port: number;
  readonly #close: () => void;
  readonly #waiters = new Map<string, PortWaiter>();
  #closed = false;
  /** Starts accepting natively while a waiter needs a connection (see `native`). */
  #pump: () => void = () => {};

  private constructor(port: number, close: () => void) {
    this.port = port;
    this.#close = close;
  }

  /** Whether a waiter is in `accept()` with nothing delivered yet. */
  get #wanted(): boolean {
    for (const waiter of this.#waiters.values()) if (waiter.wanting) return true;
    return false;
  }

  /**
   * Serve a native listener (plain or TLS). It accepts only while a waiter
   * needs a connection, as the listener of one session always did: measured
   * on Deno 2.9, a listener closed with an accept pending keeps its port
   * bound until the next turn of the event loop, so a port given back would
   * not be free at once for the next PASV.
   */
  static native(
    listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>,
    identity: PortIdentity,
  ): PassivePort {
    const port = new PassivePort(listener.addr.port, () => closeQuietly(listener));
    let pumping = false;
    port.#pump = async () => {
      if (pumping) return;
      pumping = true;
      while (!port.#closed && port.#wanted) {
        let conn: Deno.TcpConn | Deno.TlsConn;
        try {
          conn = await listener.accept();
        } catch {
          return; // closed
        }
        const peer = normalizeHost(conn.remoteAddr.hostname);
        // A TLS listener is never used with trusted balancers (the header comes before TLS).
        if (identity.proxyFrom?.contains(peer) && !("handshake" in conn)) {
          proxyReader().then(({ readProxyHeader }) =>
            readProxyHeader(conn, identity.headerTimeoutMs)
          ).then(
            (header) =>
              port.#deliver(header.command === "proxy" ? header.source.hostname : peer, conn),
            () => closeQuietly(conn),
          );
        } else {
          port.#deliver(peer, conn);
        }
      }
      pumping = false;
    };
    return port;
  }

  /** Listen with `node:net` (sockets that can become TLS in place); rejects when busy. */
  static node(hostname: string, port: number, identity: PortIdentity): Promise<PassivePort> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true });
      server.once("error", reject);
      server.listen({ host: hostname, port, exclusive: true }, () => {
        server.off("error", reject);
        server.on("error", () => {});
        const passive = new PassivePort((server.address() as net.AddressInfo).port, () => {
          server.close();
        });
        server.on("connection", (socket: net.Socket) => {
          socket.on("error", () => {});
          const peer = normalizeHost(socket.remoteAddress ?? "");
          if (!identity.proxyFrom?.contains(peer)) return passive.#deliver(peer, socket);
          proxyReader().then(({ readProxyHeaderFromSocket }) =>
            readProxyHeaderFromSocket(socket, identity.headerTimeoutMs)
          ).then(
            (header) =>
              passive.#deliver(header.command === "proxy" ? header.source.hostname : peer, socket),
            () => socket.destroy(),
          );
        });
        resolve(passive);
      });
    });
  }

  /** True once no session waits on it (it stops listening then). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a session of `clientHost` waits here (then another may not). */
  has(clientHost: string): boolean {
    return this.#waiters.has(normalizeHost(clientHost));
  }

  /** Add the waiting session of `clientHost`; the listener closes when the last one leaves. */
  wait(clientHost: string, expiresInMs = Infinity): PortWaiter {
    const host = normalizeHost(clientHost);
    if (this.#closed || this.#waiters.has(host)) {
      throw new Error(`Port ${this.port} already has a waiter for ${host}`);
    }
    const waiter = new PortWaiter(this.port, expiresInMs, () => this.#pump(), () => {
      if (this.#waiters.get(host) === waiter) this.#waiters.delete(host);
      if (this.#waiters.size === 0) this.#stop();
    });
    this.#waiters.set(host, waiter);
    return waiter;
  }

  #deliver(host: string, socket: AcceptedSocket): void {
    const waiter = this.#waiters.get(host);
    if (!waiter || !waiter.offer(socket)) closeAccepted(socket); // foreign: bounce/hijack attempt
  }

  #stop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#close();
  }
}

/** One session waiting on a {@linkcode PassivePort} for its client's connection. */
export class PortWaiter {
  readonly port: number;
  readonly #want: () => void;
  readonly #leave: () => void;
  readonly #expiry?: ReturnType<typeof setTimeout>;
  readonly #queued: AcceptedSocket[] = [];
  #wake?: () => void;
  #accepting = false;
  #closed = false;

  /** Made by {@linkcode PassivePort.wait}: `want` when it starts accepting, `leave` when done. */
  constructor(port: number, expiresInMs: number, want: () => void, leave: () => void) {
    this.port = port;
    this.#want = want;
    this.#leave = leave;
    if (Number.isFinite(expiresInMs)) this.#expiry = setTimeout(() => this.close(), expiresInMs);
  }

  /** In `accept()` with no connection yet. */
  get wanting(): boolean {
    return this.#accepting && !this.#closed && this.#queued.length === 0;
  }

  /** Take a connection of this waiter's client; false when it no longer waits. */
  offer(socket: AcceptedSocket): boolean {
    if (this.#closed) return false;
    this.#queued.push(socket);
    this.#wake?.();
    return true;
  }

  /** The client's connection; 425 after `timeoutMs`, on expiry, or when closed meanwhile. */
  async accept(timeoutMs: number): Promise<AcceptedSocket> {
    const deadline = Date.now() + timeoutMs;
    this.#accepting = true;
    this.#want();
    try {
      while (this.#queued.length === 0) {
        if (this.#closed || Date.now() >= deadline) {
          throw new FtpError(Reply.CantOpenDataConnection, CANT_OPEN);
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
      return this.#queued.shift()!;
    } finally {
      this.#accepting = false;
      this.close();
    }
  }

  /** Stop waiting (idempotent); connections that came and were not taken are closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    for (const socket of this.#queued.splice(0)) closeAccepted(socket);
    this.#wake?.();
    this.#leave();
  }
}

function closeAccepted(socket: AcceptedSocket): void {
  if (socket instanceof net.Socket) socket.destroy();
  else closeQuietly(socket);
}
