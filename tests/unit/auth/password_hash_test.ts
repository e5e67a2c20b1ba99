import assert from "node:assert/strict";
import {
  constantTimeEqual,
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  parsePasswordHash,
  verifyPassword,
} from "../../../src/auth/password_hash.ts";

Deno.test("a new hash is pbkdf2-sha256 with 600000 iterations and a 16-byte random salt", async () => {
  const first = await hashPassword("pw");
  const second = await hashPassword("pw");
  assert.match(first, /^pbkdf2-sha256\$600000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.ok(DEFAULT_PBKDF2_ITERATIONS >= 210_000);
  assert.notEqual(first, second, "salted");
  assert.ok(await verifyPassword("pw", first));
  assert.ok(!(await verifyPassword("pW", first)));
  assert.ok(!(await verifyPassword("", first)));
});

Deno.test("hashes match an independent PBKDF2 (node:crypto) and accept padded base64", async () => {
  const { pbkdf2Sync } = await import("node:crypto");
  const salt = new Uint8Array(16).fill(7);
  const stored = await hashPassword("pässword", { iterations: 1000, salt });
  const expected = pbkdf2Sync("pässword", salt, 1000, 32, "sha256").toString("base64");
  assert.equal(stored.split("$")[3], expected.replace(/=+$/, ""));
  const padded = `pbkdf2-sha256$1000$${btoa(String.fromCharCode(...salt))}$${expected}`;
  assert.ok(await verifyPassword("pässword", padded));
});

Deno.test("malformed stored hashes are SyntaxErrors that never echo the hash, and never match", async () => {
  const salt = "AAAAAAAAAAAAAAAAAAAAAA";
  const hash = "A".repeat(43);
  const cases: [string, RegExp][] = [
    ["plain-text-password", /must look like pbkdf2-sha256\$<iterations>/],
    [`pbkdf2-sha1$1000$${salt}$${hash}`, /must look like/],
    [`pbkdf2-sha256$999$${salt}$${hash}`, /iterations must be a whole number from 1000/],
    [`pbkdf2-sha256$1e6$${salt}$${hash}`, /iterations/],
    [`pbkdf2-sha256$1000$AAAA$${hash}`, /salt must be at least 8 bytes/],
    [`pbkdf2-sha256$1000$${salt}$AAAA`, /hash must be 16 to 64 bytes/],
    [`pbkdf2-sha256$1000$${salt}$not*base64`, /hash must be/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parsePasswordHash(text), (error: Error) => {
      assert.ok(error instanceof SyntaxError);
      assert.match(error.message, message);
      assert.ok(!error.message.includes(text), "does not echo the hash");
      return true;
    });
    assert.equal(await verifyPassword("x", text), false);
  }
});

Deno.test("iterations out of range are refused when hashing", async () => {
  await assert.rejects(hashPassword("pw", { iterations: 10 }), RangeError);
  await assert.rejects(hashPassword("pw", { iterations: 1.5 }), RangeError);
});

Deno.test("constantTimeEqual compares contents and lengths", () => {
  assert.ok(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])));
  assert.ok(constantTimeEqual(new Uint8Array(), new Uint8Array()));
});
