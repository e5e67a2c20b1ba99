/**
 * Reading a PROXY header off a fresh connection, bounded in bytes (the
 * format's own limits, see {@linkcode parseProxyHeader}) and in time (a
 * deadline), without consuming a byte of what the client sends after it:
 * native connections are read exactly as far as the header goes, and what a
 * `node:net` socket delivered beyond it is pushed back (`unshift`).
 *
 * @module
 */

import type { Socket } from "node:net";
import { parseProxyHeader, type ProxyHeader, ProxyHeaderError } from "./header.ts";

/** The header did not arrive before the deadline. */
export class ProxyHeaderTimeout extends ProxyHeaderError {
  /** @param timeoutMs the deadline that passed */
  constructor(timeoutMs: number) {
    super(`No PROXY header within ${timeoutMs} ms`);
    this.name = "ProxyHeaderTimeout";
  }
}

/**
 * Read a header from a native connection: each read asks for no more bytes
 * than the header still needs, so the client's first bytes stay unread.
 * On failure the caller closes `conn` (which also ends a pending read).
 *
 * @throws {ProxyHeaderError} for a malformed header, end of stream, or the deadline
 */
export async function readProxyHeader(
  conn: { read(buffer: Uint8Array): Promise<number | null> },
  timeoutMs: number,
): Promise<ProxyHeader> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProxyHeaderTimeout(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([readExactly(conn), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readExactly(
  conn: { read(buffer: Uint8Array): Promise<number | null> },
): Promise<ProxyHeader> {
  let bytes = new Uint8Array(0);
  while (true) {
    const result = parseProxyHeader(bytes);
    if (result.header) return result.header;
    const next = new Uint8Array(bytes.length + result.needMore);
    next.set(bytes);
    const n = await conn.read(next.subarray(bytes.length));
    if (n === null) throw new ProxyHeaderError("Connection closed before the PROXY header ended");
    bytes = next.subarray(0, bytes.length + n);
  }
}

/**
 * Read a header from a paused `node:net` socket. Bytes that came with it are
 * pushed back, and the socket is left paused for whoever reads it next (a
 * control connection, TLS).
 *
 * @throws {ProxyHeaderError} for a malformed header, end of stream, or the deadline
 */
export function readProxyHeaderFromSocket(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let bytes = new Uint8Array(0);
    const finish = (error?: Error, header?: ProxyHeader) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      socket.pause();
      if (error) reject(error);
      else resolve(header!);
    };
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(bytes.length + chunk.length);
      joined.set(bytes);
      joined.set(chunk, bytes.length);
      bytes = joined;
      let result;
      try {
        result = parseProxyHeader(bytes);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (!result.header) return;
      finish(undefined, result.header);
      if (bytes.length > result.header.length) {
        socket.unshift(bytes.subarray(result.header.length));
      }
    };
    const onEnd = () =>
      finish(new ProxyHeaderError("Connection closed before the PROXY header ended"));
    const onError = (error: Error) => finish(error);
    const timer = setTimeout(() => finish(new ProxyHeaderTimeout(timeoutMs)), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
    socket.resume();
  });
}
