/** Builders of PROXY headers (v1 text, v2 binary) for the tests, as HAProxy writes them. */

import { addressBytes } from "../../src/proxy/cidr.ts";
import { V2_SIGNATURE } from "../../src/proxy/header.ts";

/** `PROXY TCP4|TCP6 src dst sport dport\r\n`. */
export function v1(source: string, destination = "127.0.0.1", sourcePort = 50000, port = 21) {
  const family = source.includes(":") ? "TCP6" : "TCP4";
  return new TextEncoder().encode(
    `PROXY ${family} ${source} ${destination} ${sourcePort} ${port}\r\n`,
  );
}

/** Options of {@linkcode v2}. */
export interface V2Options {
  /** 0 LOCAL, 1 PROXY. @default {1} */
  command?: number;
  /** Family/protocol byte; derived from the addresses unless given. */
  familyProtocol?: number;
  /** TLVs appended after the addresses. */
  tlvs?: Uint8Array;
  /** Override the length field. */
  length?: number;
}

/** A v2 header for a TCP connection from `source` to `destination`. */
export function v2(
  source: string,
  destination = "127.0.0.1",
  sourcePort = 50000,
  port = 21,
  options: V2Options = {},
): Uint8Array {
  const src = addressBytes(source)!;
  const dst = addressBytes(destination)!;
  const wide = src.length === 16 || dst.length === 16;
  const widen = (bytes: Uint8Array) => {
    if (!wide || bytes.length === 16) return bytes;
    const out = new Uint8Array(16);
    out.set([0xff, 0xff], 10);
    out.set(bytes, 12);
    return out;
  };
  const addresses = new Uint8Array([...widen(src), ...widen(dst), 0, 0, 0, 0]);
  const view = new DataView(addresses.buffer);
  view.setUint16(addresses.length - 4, sourcePort);
  view.setUint16(addresses.length - 2, port);
  const tlvs = options.tlvs ?? new Uint8Array();
  const length = options.length ?? addresses.length + tlvs.length;
  return new Uint8Array([
    ...V2_SIGNATURE,
    0x20 | (options.command ?? 1),
    options.familyProtocol ?? (wide ? 0x21 : 0x11),
    length >> 8,
    length & 255,
    ...addresses,
    ...tlvs,
  ]);
}

/** A TLV: type, 2-byte length, value. */
export function tlv(type: number, value: Uint8Array): Uint8Array {
  return new Uint8Array([type, value.length >> 8, value.length & 255, ...value]);
}

/** Bytes of a string. */
export function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Join byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
