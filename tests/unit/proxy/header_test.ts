import assert from "node:assert/strict";
import {
  parseProxyHeader,
  ProxyHeaderError,
  V1_MAX_BYTES,
  V2_MAX_PAYLOAD_BYTES,
  V2_SIGNATURE,
} from "../../../src/proxy/header.ts";
import { ascii, concat, tlv, v2 } from "../../proxy/_headers.ts";

const GOOD: { name: string; bytes: Uint8Array; expect: object }[] = [
  {
    name: "v1 TCP4",
    bytes: ascii("PROXY TCP4 192.0.2.7 10.0.0.1 56324 21\r\n"),
    expect: {
      command: "proxy",
      version: 1,
      source: { hostname: "192.0.2.7", port: 56324 },
      destination: { hostname: "10.0.0.1", port: 21 },
      length: 40,
    },
  },
  {
    name: "v1 TCP6, written canonically",
    bytes: ascii("PROXY TCP6 2001:DB8:0:0::7 2001:db8::1 1 65535\r\n"),
    expect: {
      command: "proxy",
      version: 1,
      source: { hostname: "2001:db8::7", port: 1 },
      destination: { hostname: "2001:db8::1", port: 65535 },
      length: 48,
    },
  },
  {
    name: "v1 UNKNOWN with addresses",
    bytes: ascii("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
    expect: { command: "local", version: 1, length: 59 },
  },
  {
    name: "v1 UNKNOWN alone",
    bytes: ascii("PROXY UNKNOWN\r\n"),
    expect: { command: "local", version: 1, length: 15 },
  },
  {
    name: "v1 with the longest addresses and ports",
    bytes: ascii(
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    ),
    expect: { command: "proxy", version: 1, length: 104 },
  },
  {
    name: "v2 TCP4",
    bytes: v2("198.51.100.9", "10.0.0.1", 4000, 2121),
    expect: {
      command: "proxy",
      version: 2,
      source: { hostname: "198.51.100.9", port: 4000 },
      destination: { hostname: "10.0.0.1", port: 2121 },
      length: 28,
    },
  },
  {
    name: "v2 TCP6",
    bytes: v2("2001:db8::42", "2001:db8::1", 4000, 21),
    expect: {
      command: "proxy",
      version: 2,
      source: { hostname: "2001:db8::42", port: 4000 },
      destination: { hostname: "2001:db8::1", port: 21 },
      length: 52,
    },
  },
  {
    name: "v2 TCP6 carrying IPv4-mapped addresses reads as IPv4",
    bytes: v2("::ffff:192.0.2.1", "2001:db8::1"),
    expect: { command: "proxy", source: { hostname: "192.0.2.1", port: 50000 } },
  },
  {
    name: "v2 with TLVs (ALPN, authority, unique id, NOOP padding) skipped",
    bytes: v2("192.0.2.1", "10.0.0.1", 1, 2, {
      tlvs: concat(
        tlv(0x01, ascii("ftp")),
        tlv(0x02, ascii("ftp.example.com")),
        tlv(0x05, new Uint8Array(20)),
        tlv(0x04, new Uint8Array(0)),
      ),
    }),
    expect: { command: "proxy", source: { hostname: "192.0.2.1", port: 1 }, length: 78 },
  },
  {
    name: "v2 LOCAL (a health check) keeps the socket's addresses",
    bytes: v2("192.0.2.1", "10.0.0.1", 1, 2, { command: 0 }),
    expect: { command: "local", version: 2, length: 28 },
  },
  {
    name: "v2 LOCAL with no addresses at all",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x20, 0x00, 0, 0])),
    expect: { command: "local", version: 2, length: 16 },
  },
  {
    name: "v2 PROXY over UNSPEC keeps the socket's addresses",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x21, 0x00, 0, 0])),
    expect: { command: "local", version: 2, length: 16 },
  },
  {
    name: "v2 PROXY over a UNIX socket keeps the socket's addresses",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x21, 0x31, 0, 216]), new Uint8Array(216)),
    expect: { command: "local", version: 2, length: 232 },
  },
];

for (const { name, bytes, expect } of GOOD) {
  Deno.test(`parseProxyHeader reads ${name}`, () => {
    const { header } = parseProxyHeader(concat(bytes, ascii("USER anonymous\r\n")));
    assert.ok(header, "a whole header");
    assert.partialDeepStrictEqual(header, expect);
  });

  Deno.test(`parseProxyHeader asks for more bytes on every prefix of ${name}`, () => {
    for (let cut = 0; cut < bytes.length; cut++) {
      const result = parseProxyHeader(bytes.subarray(0, cut));
      assert.equal(result.header, undefined, `prefix of ${cut} bytes`);
      assert.ok(result.needMore! >= 1, `needs more after ${cut}`);
      // Never more than the header still has: an exact reader won't eat the client's bytes.
      assert.ok(cut + result.needMore! <= bytes.length, `over-asks after ${cut}`);
    }
  });
}

const BAD: { name: string; bytes: Uint8Array; message: RegExp }[] = [
  { name: "an FTP command", bytes: ascii("USER anonymous\r\n"), message: /Not a PROXY/ },
  { name: "a TLS ClientHello", bytes: new Uint8Array([0x16, 3, 1, 0, 0xa5]), message: /Not a/ },
  { name: "v1 in lower case", bytes: ascii("proxy TCP4 1.2.3.4"), message: /Not a PROXY/ },
  { name: "PROXY without its space", bytes: ascii("PROXYTCP4"), message: /Not a PROXY/ },
  {
    name: "a v1 line ended by LF only",
    bytes: ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
    message: /CRLF/,
  },
  {
    name: "a v1 line with too few fields",
    bytes: ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
    message: /6 fields/,
  },
  {
    name: "a v1 line with double spaces",
    bytes: ascii("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"),
    message: /6 fields/,
  },
  {
    name: "v1 UDP4",
    bytes: ascii("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    message: /TCP4 or TCP6/,
  },
  {
    name: "v1 TCP4 with an IPv6 address",
    bytes: ascii("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"),
    message: /not TCP4/,
  },
  {
    name: "v1 TCP4 with an octet over 255",
    bytes: ascii("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"),
    message: /not TCP4/,
  },
  {
    name: "v1 TCP6 with a host name",
    bytes: ascii("PROXY TCP6 example.com ::1 1 2\r\n"),
    message: /not TCP6/,
  },
  {
    name: "v1 port over 65535",
    bytes: ascii("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
    message: /port/,
  },
  {
    name: "v1 port with a leading zero",
    bytes: ascii("PROXY TCP4 1.2.3.4 5.6.7.8 021 2\r\n"),
    message: /port/,
  },
  {
    name: "v1 negative port",
    bytes: ascii("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"),
    message: /port/,
  },
  {
    name: "v1 with a control byte",
    bytes: ascii("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"),
    message: /printable/,
  },
  {
    name: "v1 with a NUL byte",
    bytes: concat(ascii("PROXY TCP4 "), new Uint8Array([0])),
    message: /printable/,
  },
  {
    name: "v1 longer than 107 bytes without CRLF",
    bytes: ascii("PROXY TCP6 " + "f".repeat(120)),
    message: /longer than 107/,
  },
  {
    name: "a v2 signature with one byte wrong",
    bytes: concat(V2_SIGNATURE.subarray(0, 6), ascii("X")),
    message: /Not a PROXY/,
  },
  {
    name: "v2 version 1 in the version nibble",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x11, 0x11, 0, 12])),
    message: /version 1/,
  },
  {
    name: "v2 command 2",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x22, 0x11, 0, 12])),
    message: /command 2/,
  },
  {
    name: "v2 family 4",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x21, 0x41, 0, 0])),
    message: /unknown family/,
  },
  {
    name: "v2 UDP",
    bytes: v2("1.2.3.4", "5.6.7.8", 1, 2, { familyProtocol: 0x12 }),
    message: /datagram/,
  },
  {
    name: "v2 TCP4 too short for its addresses",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x21, 0x11, 0, 8]), new Uint8Array(8)),
    message: /too short/,
  },
  {
    name: "v2 TCP6 with only IPv4-sized addresses",
    bytes: concat(V2_SIGNATURE, new Uint8Array([0x21, 0x21, 0, 12]), new Uint8Array(12)),
    message: /too short/,
  },
  {
    name: "v2 whose TLV runs past the header",
    bytes: v2("1.2.3.4", "5.6.7.8", 1, 2, {
      tlvs: new Uint8Array([0x01, 0x00, 0x10, 0x61]),
    }),
    message: /past the header/,
  },
  {
    name: "v2 ending inside a TLV's own header",
    bytes: v2("1.2.3.4", "5.6.7.8", 1, 2, { tlvs: new Uint8Array([0x01, 0x00]) }),
    message: /inside a TLV/,
  },
  {
    name: "v2 announcing more than the bound",
    bytes: concat(
      V2_SIGNATURE,
      new Uint8Array([
        0x21,
        0x11,
        (V2_MAX_PAYLOAD_BYTES + 1) >> 8,
        (V2_MAX_PAYLOAD_BYTES + 1) & 255,
      ]),
    ),
    message: /more than/,
  },
];

for (const { name, bytes, message } of BAD) {
  Deno.test(`parseProxyHeader refuses ${name}`, () => {
    assert.throws(() => parseProxyHeader(bytes), (error) => {
      assert.ok(error instanceof ProxyHeaderError);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("parseProxyHeader refuses a wrong first byte at once, before more arrives", () => {
  assert.throws(() => parseProxyHeader(ascii("U")), ProxyHeaderError);
  assert.throws(() => parseProxyHeader(new Uint8Array([0x0d, 0x0a, 0x0d, 0x0b])), ProxyHeaderError);
});

Deno.test("parseProxyHeader of v1 UNKNOWN with 107 bytes is still read", () => {
  const line = "PROXY UNKNOWN " + "x".repeat(V1_MAX_BYTES - 16) + "\r\n";
  assert.equal(line.length, V1_MAX_BYTES);
  assert.equal(parseProxyHeader(ascii(line)).header?.length, V1_MAX_BYTES);
});
