import assert from "node:assert/strict";
import { BasicAuthenticator } from "../../../src/auth/basic.ts";
import {
  base64Utf8,
  HttpClient,
  normalizeMethod,
  normalizeServiceUrl,
  redactUrl,
} from "../../../src/auth/http.ts";
import { hashPasswordHex } from "../../../src/auth/webhook.ts";
import type { AuthContext } from "../../../src/auth/types.ts";

function capture(): { lines: Record<string, unknown>[]; context: AuthContext } {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    context: { log: (level, message, fields) => lines.push({ level, message, ...fields }) },
  };
}

Deno.test("URLs: only absolute http(s) without credentials; logged without query", () => {
  assert.equal(normalizeServiceUrl("https://a.example/x?y=1#frag").href, "https://a.example/x?y=1");
  assert.throws(() => normalizeServiceUrl("ftp://a.example/"), TypeError);
  assert.throws(() => normalizeServiceUrl("/relative"), TypeError);
  assert.throws(
    () => normalizeServiceUrl("https://u:secret@a.example/"),
    (error: Error) => error instanceof TypeError && !error.message.includes("secret"),
  );
  assert.equal(
    redactUrl(new URL("https://u:p@a.example:8443/p/q?key=k")),
    "https://a.example:8443/p/q?…",
  );
  assert.equal(redactUrl(new URL("http://a.example/p")), "http://a.example/p");
});

Deno.test("methods: tokens, upper-cased; CONNECT/TRACE/TRACK refused", () => {
  assert.equal(normalizeMethod("post"), "POST");
  assert.equal(normalizeMethod("PROPFIND"), "PROPFIND");
  for (const bad of ["", "GET POST", "TRACE", "connect", "G\nET"]) {
    assert.throws(() => normalizeMethod(bad), TypeError, bad);
  }
});

Deno.test("Basic credentials are base64 of UTF-8", () => {
  assert.equal(base64Utf8("Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  assert.equal(base64Utf8("test:123£"), "dGVzdDoxMjPCow==");
});

Deno.test("webhook hashes are lower-case hex of the UTF-8 password", async () => {
  assert.equal(await hashPasswordHex("abc", "md5"), "900150983cd24fb0d6963f7d28e17f72");
  assert.equal(await hashPasswordHex("abc", "sha1"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(
    await hashPasswordHex("abc", "sha256"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal((await hashPasswordHex("abc", "sha384")).length, 96);
  assert.equal((await hashPasswordHex("abc", "sha512")).slice(0, 16), "ddaf35a193617aba");
});

Deno.test("HttpClient: bodies read up to 64 KiB, errors scrubbed of query and secrets", async () => {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("x".repeat(100_000)),
  );
  try {
    const client = new HttpClient(5000);
    const outcome = await client.request({
      url: new URL(`http://127.0.0.1:${server.addr.port}/`),
      method: "GET",
      readBody: true,
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.body?.length, 64 * 1024);
  } finally {
    await server.shutdown();
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const { lines, context } = capture();
  const outcome = await new HttpClient(5000).request({
    url: new URL(`http://127.0.0.1:${port}/check?password_hash=deadbeef&user=x`),
    method: "GET",
    secrets: ["deadbeef"],
  }, context);
  assert.equal(outcome.ok, false);
  assert.ok(!outcome.ok && outcome.reason.startsWith(`http://127.0.0.1:${port}/check?…: `));
  assert.ok(!JSON.stringify(outcome).includes("deadbeef"), JSON.stringify(outcome));
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, "error");
  assert.equal(lines[0].url, `http://127.0.0.1:${port}/check?…`);
  assert.ok(!JSON.stringify(lines).includes("deadbeef"), JSON.stringify(lines));
  assert.throws(() => new HttpClient(0), RangeError);
});

Deno.test("re-validation: a user object the authenticator did not produce is not valid", async () => {
  const authenticator = new BasicAuthenticator({
    loginUrl: "http://127.0.0.1:9/login",
    authenticatedUrl: "http://127.0.0.1:9/valid",
    authenticatedTtlMs: 0,
  });
  // Same name, different object: no proof kept for it, so no request and no.
  assert.equal(await authenticator.isStillValid!({ username: "alice" }), false);
  assert.equal(authenticator.revalidateEveryMs, 0);
  assert.throws(
    () => new BasicAuthenticator({ loginUrl: "http://127.0.0.1:9/", authenticatedTtlMs: 5 }),
    /authenticatedTtlMs needs authenticatedUrl/,
  );
});
