/**
 * Passive mode: a pool of ports to listen on, and one pending listener per
 * session that accepts a single data connection from the client's address.
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { closeQuietly, normalizeHost } from "./connection.ts";

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

  /** Listen on a free port of the range at `hostname`. */
  listen(hostname: string): Deno.TcpListener {
    if (this.#min === 0) return Deno.listen({ hostname, port: 0 });
    const size = this.#max - this.#min + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = this.#min + (start + i) % size;
      try {
        return Deno.listen({ hostname, port });
      } catch (error) {
        if (
          error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.PermissionDenied
        ) {
          continue;
        }
        throw error;
      }
    }
    throw new FtpError(425, "No passive port available; try again later");
  }
}

/**
 * A listener waiting for the client's data connection. Connections from any
 * other address are closed silently and the wait goes on, so a hijacker
 * cannot steal the transfer and the real client can still connect.
 */
export class PassiveListener {
  readonly #listener: Deno.TcpListener;
  readonly #clientHost: string;
  #closed = false;

  /** Wrap `listener`, accepting only connections from `clientHost`. */
  constructor(listener: Deno.TcpListener, clientHost: string) {
    this.#listener = listener;
    this.#clientHost = normalizeHost(clientHost);
  }

  /** The port the client must connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /**
   * Accept the client's connection. Rejects with 425 after `timeoutMs`, or when
   * the listener is closed (a new PASV, the session ending, ABOR).
   */
  async accept(timeoutMs: number): Promise<Deno.TcpConn> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      while (true) {
        let conn: Deno.TcpConn;
        try {
          conn = await this.#listener.accept();
        } catch {
          throw new FtpError(425, "Can't open data connection: the client did not connect");
        }
        if (normalizeHost(conn.remoteAddr.hostname) === this.#clientHost) return conn;
        closeQuietly(conn); // foreign address: bounce/hijack attempt
      }
    } finally {
      clearTimeout(timer);
      this.close();
    }
  }

  /** Stop listening (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#listener);
  }
}
