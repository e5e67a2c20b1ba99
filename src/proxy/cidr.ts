/**
 * Address ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address),
 * for the peers trusted to send PROXY headers and the client networks of
 * per-network passive addresses. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`)
 * match the IPv4 ranges, as the same client seen by a dual-stack socket.
 *
 * @module
 */

/** One parsed range: the address bytes (4 or 16) and how many leading bits count. */
export interface Cidr {
  /** The network's bytes: 4 for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
  /** Prefix length in bits. */
  readonly bits: number;
}

/** The bytes of an IPv4 address (dotted decimal, 1–3 digits a part), or `undefined`. */
export function parseIPv4(text: string): Uint8Array | undefined {
  // By hand rather than split and a regex: it runs on every PROXY header.
  const bytes = new Uint8Array(4);
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* . */) {
      if (digits === 0 || part === 3) return undefined;
      bytes[part++] = value;
      digits = 0;
      value = 0;
    } else if (code >= 48 && code <= 57 && digits < 3) {
      value = value * 10 + code - 48;
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  bytes[3] = value;
  return bytes;
}

/** The bytes of an IPv6 address (embedded IPv4 tail allowed), or `undefined`. */
export function parseIPv6(text: string): Uint8Array | undefined {
  let body = text;
  if (body.startsWith("[") && body.endsWith("]")) body = body.slice(1, -1);
  const zone = body.indexOf("%");
  if (zone >= 0) body = body.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(body) || !body.includes(":")) return undefined;
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (piece.includes(".")) {
        const v4 = i === pieces.length - 1 ? parseIPv4(piece) : undefined;
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 part may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 255;
  });
  return bytes;
}

/** The bytes of an address (4 for IPv4 and IPv4-mapped IPv6, else 16), or `undefined`. */
export function addressBytes(text: string): Uint8Array | undefined {
  const v4 = parseIPv4(text);
  if (v4) return v4;
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 255 && v6[11] === 255;
  return mapped ? v6.slice(12) : v6;
}

/**
 * Parse `a.b.c.d/n`, `x:y::z/n`, or a single address (all its bits count).
 *
 * @throws {TypeError} when `text` is not a range, quoting it
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(address);
  const bytes = v4 ?? parseIPv6(address);
  if (!bytes) throw new TypeError(`Not an IP address or CIDR range: "${text}"`);
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    bits = /^\d{1,3}$/.test(suffix) ? Number(suffix) : NaN;
    if (!(bits >= 0 && bits <= max)) {
      throw new TypeError(`Prefix length must be from 0 to ${max}: "${text}"`);
    }
  }
  // A range written as an IPv4-mapped IPv6 one covers the IPv4 addresses.
  const mapped = bytes.length === 16 && bits >= 96 &&
    bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  return mapped ? { bytes: bytes.slice(12), bits: bits - 96 } : { bytes, bits };
}

/** Whether `address` (text) lies in `range`. */
export function cidrContains(range: Cidr, address: string): boolean {
  const bytes = addressBytes(address);
  if (!bytes || bytes.length !== range.bytes.length) return false;
  let bits = range.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 255 : (0xff00 >> bits) & 255;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** A list of ranges, parsed once: `contains` answers whether any holds an address. */
export class CidrList {
  readonly #ranges: readonly Cidr[];

  /** @throws {TypeError} for an entry that is not a range */
  constructor(ranges: readonly string[]) {
    this.#ranges = ranges.map(parseCidr);
  }

  /** Whether any range holds `address`. */
  contains(address: string): boolean {
    return this.#ranges.some((range) => cidrContains(range, address));
  }
}
