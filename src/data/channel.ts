/**
 * Opening a transfer's data connection and securing it: accept the passive
 * connection or connect to the client's active address, then, under PROT P,
 * finish native TLS or run node:tls over the socket. The session hands in a
 * {@linkcode DataSetup} and its protection settings; nothing here knows the
 * session.
 *
 * @module
 */

import * as net from "node:net";
import type { SecureContext } from "node:tls";
import { DataTlsFailed, FtpError } from "../errors.ts";
import { Reply } from "../replies.ts";
import type { SessionReusePolicy } from "../tls.ts";
import { type ByteConnection, closeQuietly } from "./connection.ts";
import { NodeSocketConnection } from "./node_connection.ts";
import type { DataListener, RawDataSocket } from "./passive.ts";

/** How the next transfer's data connection is made (PASV/EPSV or PORT/EPRT). */
export type DataSetup =
  | { readonly kind: "passive"; readonly listener: DataListener }
  | { readonly kind: "active"; readonly hostname: string; readonly port: number };

/** Options of {@linkcode openDataChannel}. */
export interface DataChannelOptions {
  /**
   * Set when data must be protected (PROT P on a TLS control connection): the
   * control session's TLS context and its session-reuse policy. Unset: clear data.
   */
  tls?: { readonly context: SecureContext; readonly sessionReuse: SessionReusePolicy };
  /** Deadline for the passive accept, the active connect and the TLS handshake each. */
  timeoutMs: number;
  /** Where a data connection that did not reuse the TLS session is reported (`prefer`). */
  log?: (level: "info", message: string) => void;
}

/**
 * Open the data connection of `setup` and secure it as `options` say. Rejects
 * with 425 when no connection comes in time, when `signal` aborts the wait,
 * or when the handshake fails ({@linkcode DataTlsFailed}); with 522 when the
 * policy requires a resumed TLS session and the client did not resume one.
 */
export async function openDataChannel(
  setup: DataSetup,
  options: DataChannelOptions,
  signal: AbortSignal,
): Promise<ByteConnection> {
  return await secureDataConnection(await openRawSocket(setup, options, signal), options);
}

async function openRawSocket(
  setup: DataSetup,
  options: DataChannelOptions,
  signal: AbortSignal,
): Promise<RawDataSocket> {
  const { timeoutMs } = options;
  if (setup.kind === "passive") {
    const onAbort = () => setup.listener.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await setup.listener.accept(timeoutMs);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
  // Active mode under PROT P: the server is the TLS server on a connection it
  // opened, which only node:tls can do.
  const connecting = options.tls
    ? connectNode(setup.hostname, setup.port)
    : Deno.connect({ hostname: setup.hostname, port: setup.port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    const fail = () => reject(new FtpError(Reply.CantOpenDataConnection, CANT_OPEN));
    timer = setTimeout(fail, timeoutMs);
    signal.addEventListener("abort", fail, { once: true });
  });
  try {
    return await Promise.race([connecting, failed]);
  } catch (error) {
    connecting.then((socket) => closeRaw(socket), () => {});
    throw error instanceof FtpError
      ? error
      : new FtpError(Reply.CantOpenDataConnection, CANT_OPEN, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

const CANT_OPEN = "Can't open data connection";

/** Turn the raw data socket into the transfer's connection: TLS under PROT P. */
async function secureDataConnection(
  raw: RawDataSocket,
  options: DataChannelOptions,
): Promise<ByteConnection> {
  const { tls } = options;
  if (isNativeTls(raw)) {
    if (!tls) {
      closeQuietly(raw);
      throw new FtpError(
        Reply.CantOpenDataConnection,
        "Data connection is TLS but PROT is C: send EPSV/PASV again",
      );
    }
    return await nativeTlsConnection(raw, options.timeoutMs);
  }
  if (!(raw instanceof net.Socket)) {
    if (tls) {
      closeQuietly(raw);
      throw new FtpError(
        Reply.CantOpenDataConnection,
        "PROT P came after EPSV/PASV: send EPSV/PASV again",
      );
    }
    return raw;
  }
  if (!tls) return NodeSocketConnection.plain(raw);
  let secured: NodeSocketConnection;
  try {
    secured = await NodeSocketConnection.acceptTls(raw, {
      secureContext: tls.context,
      timeoutMs: options.timeoutMs,
    });
  } catch (error) {
    throw new DataTlsFailed({ cause: error });
  }
  if (tls.sessionReuse !== "off" && !secured.sessionReused) {
    if (tls.sessionReuse === "require") {
      secured.close();
      throw new FtpError(
        Reply.NetworkProtocolNotSupported,
        "Data connection must reuse the control connection's TLS session",
      );
    }
    options.log?.("info", "Data connection did not reuse the TLS session");
  }
  return secured;
}

/** Connect a `node:net` socket (for data connections that may become TLS). */
function connectNode(hostname: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // Not paused (a paused socket never gets its TLS going on Deno 2.9): the
    // transfer wraps it in microtasks after "connect", before any read event,
    // so a TLS client's hello can't be consumed as plain bytes.
    const socket = net.connect({ host: hostname, port });
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

function closeRaw(socket: RawDataSocket): void {
  if (socket instanceof net.Socket) socket.destroy();
  else closeQuietly(socket);
}

function isNativeTls(socket: RawDataSocket): socket is Deno.TlsConn {
  return !(socket instanceof net.Socket) && "handshake" in socket;
}

/** Finish the handshake of a native TLS data connection and give it a clean close. */
async function nativeTlsConnection(conn: Deno.TlsConn, timeoutMs: number): Promise<ByteConnection> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      conn.handshake(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("TLS handshake timed out")), timeoutMs);
      }),
    ]);
  } catch (error) {
    closeQuietly(conn);
    throw new DataTlsFailed({ cause: error });
  } finally {
    clearTimeout(timer);
  }
  return {
    read: (buffer) => conn.read(buffer),
    write: (data) => conn.write(data),
    close: () => conn.close(),
    localAddr: conn.localAddr,
    remoteAddr: conn.remoteAddr,
    // close_notify, so the client knows the file ended here and was not cut.
    closeGracefully: () => conn.closeWrite().catch(() => {}),
  };
}
