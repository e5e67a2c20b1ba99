/**
 * The byte connection the server talks through, for control and data alike.
 *
 * Data connections are native `Deno.Conn`s (plain, or native TLS for passive
 * PROT P: the fast path on this runtime); control connections, and data
 * connections that must become TLS in place, implement the same small surface
 * over `node:net`/`node:tls`. Sessions and transfers only see this interface.
 *
 * @module
 */

/** A network address as the server reports it. */
export interface NetAddress {
  /** IP address (IPv4 dotted or IPv6 without brackets). */
  hostname: string;
  /** Port number. */
  port: number;
}

/** The surface of a connection the server needs; `Deno.Conn` satisfies it. */
export interface ByteConnection {
  /** Read into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Write some of `data`; resolves with how much was written. */
  write(data: Uint8Array): Promise<number>;
  /** Close both directions. */
  close(): void;
  /**
   * Flush, end the stream cleanly (TLS close_notify) and close; used before a
   * 226 so the client sees the whole file. Plain native sockets need no such step.
   */
  closeGracefully?(timeoutMs?: number): Promise<void>;
  /** The local end. */
  readonly localAddr: Deno.Addr;
  /** The peer. */
  readonly remoteAddr: Deno.Addr;
}

/** Write every byte of `data`. */
export async function writeAll(conn: ByteConnection, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

/** The address of a TCP connection end, with IPv4-mapped IPv6 prefixes removed. */
export function netAddress(addr: Deno.Addr): NetAddress {
  const { hostname, port } = addr as Deno.NetAddr;
  return { hostname: normalizeHost(hostname), port };
}

/** Strip `::ffff:` from IPv4-mapped IPv6 addresses and lowercase IPv6. */
export function normalizeHost(hostname: string): string {
  let lower = hostname.toLowerCase();
  if (lower.startsWith("[") && lower.endsWith("]")) lower = lower.slice(1, -1);
  if (lower.startsWith("::ffff:") && lower.includes(".")) return lower.slice(7);
  if (!lower.includes(":")) return lower;
  try {
    // The URL parser writes IPv6 in its one canonical (compressed) spelling.
    const canonical = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
    return canonical.startsWith("::ffff:") && !canonical.includes(".")
      ? ipv4FromMapped(canonical)
      : canonical;
  } catch {
    return lower;
  }
}

function ipv4FromMapped(canonical: string): string {
  const [high, low] = canonical.slice(7).split(":").map((h) => parseInt(h, 16));
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

/** True for an IPv6 address. */
export function isIPv6(hostname: string): boolean {
  return hostname.includes(":");
}

/** Close a connection, ignoring "already closed". */
export function closeQuietly(conn: { close(): void } | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

/** True for errors that mean the peer went away or the socket was closed under us. */
export function isConnectionError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected;
}
