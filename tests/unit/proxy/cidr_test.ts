import assert from "node:assert/strict";
import {
  addressBytes,
  CidrList,
  parseCidr,
  parseIPv4,
  parseIPv6,
} from "../../../src/proxy/cidr.ts";

const CASES: [ranges: string[], address: string, inside: boolean][] = [
  [["10.0.0.0/8"], "10.255.1.2", true],
  [["10.0.0.0/8"], "11.0.0.1", false],
  [["127.0.0.1"], "127.0.0.1", true],
  [["127.0.0.1"], "127.0.0.2", false],
  [["192.168.1.128/25"], "192.168.1.200", true],
  [["192.168.1.128/25"], "192.168.1.127", false],
  [["0.0.0.0/0"], "203.0.113.9", true],
  [["0.0.0.0/0"], "2001:db8::1", false],
  [["10.0.0.0/8"], "::ffff:10.1.2.3", true],
  [["::ffff:10.0.0.0/104"], "10.9.9.9", true],
  [["fd00::/8"], "fd12:3456::1", true],
  [["fd00::/8"], "fe80::1", false],
  [["2001:db8::/32"], "2001:DB8:ffff::1", true],
  [["::1"], "::1", true],
  [["::/0"], "::1", true],
  [["::/0"], "127.0.0.1", false],
  [["10.0.0.0/8", "2001:db8::/32"], "2001:db8::5", true],
  [["10.0.0.0/8"], "not an address", false],
  [["192.0.2.0/24"], "192.0.2", false],
];

for (const [ranges, address, inside] of CASES) {
  Deno.test(`CidrList ${JSON.stringify(ranges)} ${inside ? "holds" : "does not hold"} ${address}`, () => {
    assert.equal(new CidrList(ranges).contains(address), inside);
  });
}

for (
  const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/", "1.2.3.4/-1", ""]
) {
  Deno.test(`parseCidr refuses ${JSON.stringify(bad)}, quoting it`, () => {
    assert.throws(
      () => parseCidr(bad),
      (error) => error instanceof TypeError && error.message.includes(`"${bad}"`),
    );
  });
}

Deno.test("parseIPv6 reads compressed, full and IPv4-tailed forms, and refuses the rest", () => {
  assert.deepEqual(parseIPv6("::1")?.at(15), 1);
  assert.deepEqual([...parseIPv6("1:2:3:4:5:6:7:8")!].filter((_, i) => i % 2), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
  ]);
  assert.deepEqual([...addressBytes("::ffff:1.2.3.4")!], [1, 2, 3, 4]);
  assert.deepEqual([...parseIPv6("[fe80::1%eth0]")!].at(15), 1);
  for (
    const bad of [
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3",
      "12345::",
      "::1.2.3.4:5",
      "1.2.3.4::",
      ":::",
    ]
  ) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

Deno.test("parseIPv4 reads dotted quads and refuses everything else", () => {
  assert.deepEqual([...parseIPv4("192.0.2.255")!], [192, 0, 2, 255]);
  assert.deepEqual([...parseIPv4("0.0.0.0")!], [0, 0, 0, 0]);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.",
      ".1.2.3",
      "1..2.3",
      "256.1.1.1",
      "1.2.3.1234",
      "1.2.3.a",
      " 1.2.3.4",
      "1.2.3.4 ",
      "::1",
    ]
  ) {
    assert.equal(parseIPv4(bad), undefined, JSON.stringify(bad));
  }
});
