/**
 * Passive mode: a pool of ports to listen on, and one pending listener per
 * session that accepts a single data connection from the client's address
 * (see `passive_port.ts` for how a connection's address is told, PROXY
 * headers included, and how sessions share a port).
 * Plain sessions listen natively (fast); sessions whose control connection
 * is TLS listen with `node:net`, whose sockets can be upgraded for PROT P.
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { Reply } from "../replies.ts";
import type { TlsSettings } from "../tls.ts";
import {
  type AcceptedSocket,
  PassivePort,
  type PortIdentity,
  type PortWaiter,
  type ProxyTrust,
} from "./passive_port.ts";

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
export type RawDataSocket = AcceptedSocket;

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

/** Options of {@linkcode PassivePortPool}'s constructor. */
export interface PassivePortPoolOptions {
  /**
   * Balancers whose data connections start with a PROXY header: its source is
   * the address compared with the client's. Others are compared by their peer
   * address. @default none
   */
  proxyFrom?: ProxyTrust;
  /** Deadline for a data connection's PROXY header, in ms. @default {5000} */
  headerTimeoutMs?: number;
  /**
   * `by_client_address`: sessions of different client addresses may wait on
   * one port (two of one address never do). @default {"off"}
   */
  sharing?: "off" | "by_client_address";
}

/**
 * Hands out listeners on random ports of a range. A busy port is skipped; an
 * exhausted range is a 425 reply, never a crash. A range of `0`–`0` lets the
 * system pick any free port. With port sharing, a port already listening for
 * other client addresses is reused before a new one is opened.
 */
export class PassivePortPool {
  readonly #min: number;
  readonly #max: number;
  readonly #identity: PortIdentity;
  readonly #sharing: boolean;
  /** Shared ports by bind address and socket kind. */
  readonly #shared = new Map<string, Set<PassivePort>>();

  /** A pool over `min`..`max` inclusive. */
  constructor(min: number, max: number, options: PassivePortPoolOptions = {}) {
    if (min > max) throw new RangeError(`Passive port range is empty: ${min} > ${max}`);
    this.#min = min;
    this.#max = max;
    this.#identity = {
      proxyFrom: options.proxyFrom,
      headerTimeoutMs: options.headerTimeoutMs ?? 5000,
    };
    this.#sharing = options.sharing === "by_client_address";
  }

  /** Listen on a free port of the range at `hostname`, for `clientHost` only. */
  async listen(
    hostname: string,
    clientHost: string,
    options: PassiveListenOptions = {},
  ): Promise<DataListener> {
    const { pem, expiresInMs = Infinity } = options;
    let { kind = "native" } = options;
    // A PROXY header comes before TLS, which a native TLS listener can't read around.
    if (kind === "native-tls" && this.#identity.proxyFrom) kind = "node";
    const identity = this.#identity;
    const open = (port: number): Promise<PassivePort> =>
      kind === "node" ? PassivePort.node(hostname, port, identity) : Promise.resolve(
        PassivePort.native(
          kind === "native-tls"
            ? Deno.listenTls({ hostname, port, ...pem! })
            : Deno.listen({ hostname, port }),
          identity,
        ),
      );
    if (!this.#sharing) return (await this.#openInRange(open)).wait(clientHost, expiresInMs);
    const key = `${kind} ${hostname}`;
    const ports = this.#shared.get(key) ?? new Set();
    this.#shared.set(key, ports);
    for (const port of ports) if (port.closed) ports.delete(port);
    const free = [...ports].filter((port) => !port.has(clientHost));
    if (free.length) {
      return free[Math.floor(Math.random() * free.length)].wait(clientHost, expiresInMs);
    }
    const port = await this.#openInRange(open);
    ports.add(port);
    return port.wait(clientHost, expiresInMs);
  }

  async #openInRange(open: (port: number) => Promise<PassivePort>): Promise<PassivePort> {
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

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied ||
    code === "EADDRINUSE" || code === "EACCES";
}

/**
 * A native passive listener (plain, or TLS from the first byte for PROT P)
 * for one client address, made from a listener the caller opened.
 */
export class PassiveListener implements DataListener {
  readonly #waiter: PortWaiter;

  /** Wrap `listener`, accepting only connections from `clientHost`, until it expires. */
  constructor(
    listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>,
    clientHost: string,
    expiresInMs = Infinity,
  ) {
    this.#waiter = PassivePort.native(listener, { headerTimeoutMs: 5000 })
      .wait(clientHost, expiresInMs);
  }

  get port(): number {
    return this.#waiter.port;
  }

  accept(timeoutMs: number): Promise<RawDataSocket> {
    return this.#waiter.accept(timeoutMs);
  }

  close(): void {
    this.#waiter.close();
  }
}
