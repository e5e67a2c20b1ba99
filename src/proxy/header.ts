/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load
 * balancer puts before the client's bytes to say whom the connection is from.
 * {@linkcode parseProxyHeader} reads it incrementally: given the bytes so far
 * it returns the header and its length, or how many more bytes it needs at
 * least, or throws {@linkcode ProxyHeaderError} as soon as the bytes can't be
 * a header, so a reader never waits for bytes that can't help.
 *
 * @module
 */

import type { NetAddress } from "../data/connection.ts";
import { normalizeHost } from "../data/connection.ts";
import { parseIPv4, parseIPv6 } from "./cidr.ts";

/** What a PROXY header says. */
export type ProxyHeader =
  | {
    /** A proxied connection: the client's address and the one it connected to. */
    readonly command: "proxy";
    /** Protocol version. */
    readonly version: 1 | 2;
    /** The client (the connection's real source). */
    readonly source: NetAddress;
    /** The address the client connected to (the balancer's front end). */
    readonly destination: NetAddress;
    /** Bytes the header took. */
    readonly length: number;
  }
  | {
    /**
     * The balancer's own connection (v2 `LOCAL`, a health check), or one whose
     * addresses it can't tell (v1 `UNKNOWN`, v2 `UNSPEC`/`UNIX`): the socket's
     * own addresses stand.
     */
    readonly command: "local";
    /** Protocol version. */
    readonly version: 1 | 2;
    /** Bytes the header took. */
    readonly length: number;
  };

/** The result of {@linkcode parseProxyHeader}: a header, or how many more bytes it needs. */
export type ProxyParseResult =
  | { readonly header: ProxyHeader; readonly needMore?: undefined }
  | { readonly header?: undefined; readonly needMore: number };

/** Bytes that can't be (the start of) a PROXY header. */
export class ProxyHeaderError extends Error {
  /** @param message what is wrong, in sentence case */
  constructor(message: string) {
    super(message);
    this.name = "ProxyHeaderError";
  }
}

/** The 12-byte signature that starts a v2 header. */
export const V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
// One decoder for every header: making one per call cost more than the parse (the line
// is checked to be printable ASCII first, so UTF-8, Deno's fast path, reads it exactly).
const ascii = new TextDecoder();
/** The spec's longest v1 line, CRLF included. */
export const V1_MAX_BYTES = 107;
/**
 * The most address-and-TLV bytes a v2 header may carry here. The format
 * allows 65535; balancers send tens to a few hundred (HAProxy's SSL and
 * unique-id TLVs, AWS's endpoint id), and a bound keeps what a connection may
 * make the server buffer before it says anything small.
 */
export const V2_MAX_PAYLOAD_BYTES = 4096;

const V2_FIXED = 16;
const TLV_HEADER = 3;

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Parse a PROXY header at the start of `bytes` (v1 or v2, found by its first
 * bytes). Bytes after the header are the client's and are not looked at.
 *
 * @returns the header and its `length`, or `needMore`: the fewest further bytes it needs
 * @throws {ProxyHeaderError} when the bytes are not, or can't become, a valid header
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyParseResult {
  if (bytes.length === 0) return { needMore: 1 };
  if (bytes[0] === V1_PREFIX[0]) {
    if (!startsWith(bytes, V1_PREFIX)) throw new ProxyHeaderError("Not a PROXY header");
    return parseV1(bytes);
  }
  if (bytes[0] === V2_SIGNATURE[0]) {
    if (!startsWith(bytes, V2_SIGNATURE)) throw new ProxyHeaderError("Not a PROXY header");
    return parseV2(bytes);
  }
  throw new ProxyHeaderError("Not a PROXY header");
}

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const end = Math.min(bytes.length, V1_MAX_BYTES);
  let lf = -1;
  for (let i = V1_PREFIX.length; i < end; i++) {
    if (bytes[i] === 0x0a) {
      lf = i;
      break;
    }
    // Printable ASCII and the CR that must end the line, nothing else.
    if ((bytes[i] < 0x20 || bytes[i] > 0x7e) && bytes[i] !== 0x0d) {
      throw new ProxyHeaderError("PROXY v1 header has a byte that is not printable ASCII");
    }
  }
  if (lf < 0) {
    if (bytes.length >= V1_MAX_BYTES) {
      throw new ProxyHeaderError(`PROXY v1 header is longer than ${V1_MAX_BYTES} bytes`);
    }
    return { needMore: 1 };
  }
  if (bytes[lf - 1] !== 0x0d) throw new ProxyHeaderError("PROXY v1 header must end with CRLF");
  const line = ascii.decode(bytes.subarray(0, lf - 1));
  const length = lf + 1;
  const fields = line.split(" ");
  if (fields[1] === "UNKNOWN") return { header: { command: "local", version: 1, length } };
  if (fields.length !== 6) {
    throw new ProxyHeaderError(`PROXY v1 header must have 6 fields: "${line}"`);
  }
  const [, family, source, destination, sourcePort, destinationPort] = fields;
  const parse = family === "TCP4" ? parseIPv4 : family === "TCP6" ? parseIPv6 : undefined;
  if (!parse) throw new ProxyHeaderError(`PROXY v1 protocol must be TCP4 or TCP6: "${family}"`);
  if (!parse(source) || !parse(destination)) {
    throw new ProxyHeaderError(`PROXY v1 addresses are not ${family}: "${line}"`);
  }
  return {
    header: {
      command: "proxy",
      version: 1,
      source: { hostname: normalizeHost(source), port: v1Port(sourcePort) },
      destination: { hostname: normalizeHost(destination), port: v1Port(destinationPort) },
      length,
    },
  };
}

function v1Port(text: string): number {
  // Decimal without leading zeros, as the spec writes them.
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) {
    throw new ProxyHeaderError(`PROXY v1 port is not a port number: "${text}"`);
  }
  return Number(text);
}

function parseV2(bytes: Uint8Array): ProxyParseResult {
  if (bytes.length < V2_FIXED) return { needMore: V2_FIXED - bytes.length };
  const versionCommand = bytes[12];
  if (versionCommand >> 4 !== 2) {
    throw new ProxyHeaderError(`PROXY v2 header has version ${versionCommand >> 4}`);
  }
  const command = versionCommand & 15;
  if (command > 1) throw new ProxyHeaderError(`PROXY v2 header has command ${command}`);
  const familyProtocol = bytes[13];
  const payload = (bytes[14] << 8) | bytes[15];
  if (payload > V2_MAX_PAYLOAD_BYTES) {
    throw new ProxyHeaderError(
      `PROXY v2 header carries ${payload} bytes, more than ${V2_MAX_PAYLOAD_BYTES}`,
    );
  }
  const length = V2_FIXED + payload;
  if (bytes.length < length) return { needMore: length - bytes.length };
  const body = bytes.subarray(V2_FIXED, length);
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 15;
  if (family > 3 || protocol > 2) {
    throw new ProxyHeaderError(
      `PROXY v2 header has an unknown family/protocol 0x${familyProtocol.toString(16)}`,
    );
  }
  // LOCAL: the balancer's own connection (health check); its addresses, if any, mean nothing.
  if (command === 0) return { header: { command: "local", version: 2, length } };
  if (protocol === 2) throw new ProxyHeaderError("PROXY v2 header is for a datagram connection");
  const addressBytes = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (payload < addressBytes) {
    throw new ProxyHeaderError(`PROXY v2 header is too short for its addresses (${payload})`);
  }
  checkTlvs(body.subarray(addressBytes));
  // UNSPEC or UNIX: no IP to take; the socket's addresses stand.
  if (family === 0 || family === 3 || protocol === 0) {
    return { header: { command: "local", version: 2, length } };
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const size = family === 1 ? 4 : 16;
  const ports = size * 2;
  return {
    header: {
      command: "proxy",
      version: 2,
      source: { hostname: ipText(body.subarray(0, size)), port: view.getUint16(ports) },
      destination: {
        hostname: ipText(body.subarray(size, ports)),
        port: view.getUint16(ports + 2),
      },
      length,
    },
  };
}

/** Walk the TLVs after the addresses without reading past them; they are not used. */
function checkTlvs(tlvs: Uint8Array): void {
  let offset = 0;
  while (offset < tlvs.length) {
    if (tlvs.length - offset < TLV_HEADER) {
      throw new ProxyHeaderError("PROXY v2 header ends inside a TLV");
    }
    const valueLength = (tlvs[offset + 1] << 8) | tlvs[offset + 2];
    offset += TLV_HEADER + valueLength;
    if (offset > tlvs.length) throw new ProxyHeaderError("PROXY v2 TLV runs past the header");
  }
}

function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return normalizeHost(groups.join(":"));
}
