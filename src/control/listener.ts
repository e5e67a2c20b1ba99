/**
 * Control listeners: node:net servers (so that an accepted connection can
 * become TLS after AUTH TLS), their listen errors in Deno's error classes and
 * tagged with the option they belong to.
 *
 * @module
 */

import * as net from "node:net";
import {
  type ByteConnection,
  closeQuietly,
  type NetAddress,
  netAddress,
} from "../data/connection.ts";

/** The option whose listener failed to open (on a listen error's `option`). */
export type ListenerOption = "port" | "implicitTlsPort";

/** Mark a listen error with the option whose listener failed (for the CLI's message). */
export function tagListenError(error: unknown, option: ListenerOption): unknown {
  if (error instanceof Error) Object.assign(error, { option });
  return error;
}

/** A control listener (plain FTP, or implicit FTPS). */
export interface ControlListener {
  readonly addr: NetAddress;
  readonly implicitTls: boolean;
  close(): Promise<void>;
}

/** Gets each accepted socket, paused and unread. */
export type ConnectionHandler = (socket: net.Socket, implicitTls: boolean) => void;

/** Accepts control connections with node:net, so that they can become TLS. */
export class NodeControlListener implements ControlListener {
  readonly #server: net.Server;
  readonly implicitTls: boolean;

  private constructor(server: net.Server, implicitTls: boolean) {
    this.#server = server;
    this.implicitTls = implicitTls;
  }

  static open(
    hostname: string,
    port: number,
    implicitTls: boolean,
    onConnection: ConnectionHandler,
  ): Promise<NodeControlListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer(
        // allowHalfOpen: a client's FIN ends what it sends, not what it reads (the
        // replies to its last commands still go out, then the session closes).
        { pauseOnConnect: true, noDelay: true, allowHalfOpen: true },
        (socket: net.Socket) => {
          socket.on("error", () => {});
          onConnection(socket, implicitTls);
        },
      );
      server.once("error", (error: Error) => reject(toDenoListenError(error, hostname, port)));
      server.listen({ host: hostname, port }, () => {
        server.removeAllListeners("error");
        server.on("error", () => {});
        resolve(new NodeControlListener(server, implicitTls));
      });
    });
  }

  get addr(): NetAddress {
    const { address, port } = this.#server.address() as net.AddressInfo;
    return netAddress({ transport: "tcp", hostname: address, port });
  }

  close(): Promise<void> {
    // Stops accepting at once; node's close callback would wait for every open
    // connection to end, which the graceful shutdown itself brings about later.
    this.#server.close();
    return Promise.resolve();
  }
}

/** Close after what was written is sent (a node socket's close() would drop it). */
export function closeSoon(connection: ByteConnection): void {
  if (connection.closeGracefully) connection.closeGracefully(1000).catch(() => {});
  else closeQuietly(connection);
}

function toDenoListenError(error: Error, hostname: string, port: number): Error {
  const code = (error as { code?: string }).code;
  const where = `${hostname}:${port}`;
  if (code === "EADDRINUSE") {
    return new Deno.errors.AddrInUse(`${where} is in use`, { cause: error });
  }
  if (code === "EACCES") return new Deno.errors.PermissionDenied(`${where}: ${error.message}`);
  return error;
}
