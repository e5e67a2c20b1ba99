/** The algorithms alone: CRC-32 check values, the tap against node:crypto, name parsing. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import {
  CHECKSUM_ALGORITHMS,
  createDigest,
  parseChecksumAlgorithm,
} from "../../src/checksums/algorithms.ts";
import { Crc32 } from "../../src/checksums/crc32.ts";
import { ChecksumTap } from "../../src/checksums/tap.ts";
import { randomBytes } from "../helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("CRC-32 gives the standard check values", () => {
  const crc = (bytes: Uint8Array) => {
    const digest = new Crc32();
    digest.update(bytes);
    return digest.hex();
  };
  assert.equal(crc(new Uint8Array()), "00000000");
  assert.equal(crc(text("123456789")), "cbf43926");
  assert.equal(crc(text("The quick brown fox jumps over the lazy dog")), "414fa339");
  assert.equal(crc(new Uint8Array(32)), "190a55ad");
});

Deno.test("CRC-32 in any pieces equals zlib's CRC-32 of the whole", () => {
  const bytes = randomBytes(100_003);
  for (const piece of [1, 3, 7, 8, 9, 4096, 65537]) {
    const digest = new Crc32();
    for (let i = 0; i < bytes.length; i += piece) digest.update(bytes.subarray(i, i + piece));
    assert.equal(digest.value(), zlibCrc32(bytes), `pieces of ${piece}`);
  }
});

/**
 * The JavaScript slicing-by-8 CRC-32 that `Crc32` used before it moved onto
 * `node:zlib` (kept here as the reference the new one must agree with).
 */
function slicingBy8Crc32(pieces: Iterable<Uint8Array>): number {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    tables[0][byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    for (let k = 1; k < 8; k++) {
      const previous = tables[k - 1][byte];
      tables[k][byte] = (previous >>> 8) ^ tables[0][previous & 0xff];
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables;
  let crc = ~0;
  for (const bytes of pieces) {
    let i = 0;
    const wholeEights = bytes.length - (bytes.length & 7);
    for (; i < wholeEights; i += 8) {
      const low = crc ^
        (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
      crc = t7[low & 0xff] ^ t6[(low >>> 8) & 0xff] ^ t5[(low >>> 16) & 0xff] ^
        t4[low >>> 24] ^ t3[bytes[i + 4]] ^ t2[bytes[i + 5]] ^ t1[bytes[i + 6]] ^
        t0[bytes[i + 7]];
    }
    for (; i < bytes.length; i++) crc = t0[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

Deno.test("CRC-32 agrees with the former slicing-by-8 implementation on random data", () => {
  // Pieces at odd offsets of one buffer: zlib must honour each view's byteOffset.
  const bytes = randomBytes(1_000_003);
  for (const piece of [1, 5, 8, 13, 4093, 65536, 262_147, bytes.length]) {
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += piece) pieces.push(bytes.subarray(i, i + piece));
    const digest = new Crc32();
    for (const each of pieces) digest.update(each);
    const expected = slicingBy8Crc32(pieces);
    assert.equal(digest.value(), expected, `pieces of ${piece}`);
    assert.equal(digest.hex(), expected.toString(16).padStart(8, "0"));
  }
  for (let size = 0; size < 64; size++) {
    const short = randomBytes(size);
    const digest = new Crc32();
    digest.update(short);
    assert.equal(digest.value(), slicingBy8Crc32([short]), `${size} bytes`);
  }
});

Deno.test("the tap computes every algorithm as node:crypto does, fed in pieces or as a stream", async () => {
  const bytes = randomBytes(300_001);
  const tap = new ChecksumTap(CHECKSUM_ALGORITHMS);
  const streamed = new ChecksumTap(CHECKSUM_ALGORITHMS);
  for (let i = 0; i < bytes.length; i += 70_000) tap.update(bytes.subarray(i, i + 70_000));
  const out = await new Response(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(streamed.transform()),
  ).bytes();
  assert.deepEqual(out, bytes);
  const names = { "SHA-256": "sha256", "SHA-512": "sha512", "SHA-1": "sha1", "MD5": "md5" };
  for (const [algorithm, node] of Object.entries(names)) {
    const expected = createHash(node).update(bytes).digest("hex");
    assert.equal(tap.digests()[algorithm as keyof typeof names], expected);
    assert.equal(streamed.digests()[algorithm as keyof typeof names], expected);
  }
  assert.equal(tap.digests().CRC32, zlibCrc32(bytes).toString(16).padStart(8, "0"));
  assert.throws(() => tap.update(bytes), /already finished/);
  const digest = createDigest("MD5");
  digest.update(text("abc"));
  assert.equal(digest.hex(), "900150983cd24fb0d6963f7d28e17f72");
});

Deno.test("algorithm names are read in any case and common spellings", () => {
  assert.equal(parseChecksumAlgorithm("sha-256"), "SHA-256");
  assert.equal(parseChecksumAlgorithm("SHA512"), "SHA-512");
  assert.equal(parseChecksumAlgorithm("sha1"), "SHA-1");
  assert.equal(parseChecksumAlgorithm("Md5"), "MD5");
  assert.equal(parseChecksumAlgorithm("crc-32"), "CRC32");
  assert.equal(parseChecksumAlgorithm("CRC64"), undefined);
  assert.equal(parseChecksumAlgorithm(""), undefined);
});
