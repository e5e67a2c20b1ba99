import assert from "node:assert/strict";
import * as publicApi from "../../mod.ts";
import * as httpApi from "../../src/auth/http_mod.ts";
import { FtpServer, MemoryStorage, PassthroughAuthenticator } from "../../mod.ts";

// What a JavaScript caller (no type checker) might pass.
const construct = (options?: unknown) =>
  new FtpServer(options as ConstructorParameters<typeof FtpServer>[0]);

Deno.test("FtpServer without options is a TypeError naming the missing option", () => {
  assert.throws(() => construct(), TypeError, 'Option "authenticator" is required');
  assert.throws(() => construct({}), TypeError, 'Option "authenticator" is required');
  assert.throws(
    () => construct({ storage: new MemoryStorage() }),
    TypeError,
    'Option "authenticator" is required',
  );
  assert.throws(
    () => construct({ authenticator: new PassthroughAuthenticator() }),
    TypeError,
    'Option "storage" is required',
  );
  assert.throws(
    () => construct({ authenticator: null, storage: new MemoryStorage() }),
    TypeError,
    'Option "authenticator" is required',
  );
});

Deno.test("FtpServer with a wrong-typed authenticator or storage is a TypeError naming it", () => {
  assert.throws(
    () => construct({ authenticator: {}, storage: new MemoryStorage() }),
    TypeError,
    'Option "authenticator" must have an authenticate() method',
  );
  assert.throws(
    () => construct({ authenticator: new PassthroughAuthenticator(), storage: "/srv/ftp" }),
    TypeError,
    'Option "storage" must be a StorageConnector',
  );
});

Deno.test("FtpServer with both an authenticator and a storage constructs", async () => {
  await using server = new FtpServer({
    port: 0,
    authenticator: new PassthroughAuthenticator(),
    storage: new MemoryStorage(),
  });
  assert.equal(server.sessionCount, 0);
});

Deno.test("the main entry point leaves the HTTP and Digest plumbing to ./http", () => {
  const plumbing = [
    "HttpAuthenticator",
    "HttpClient",
    "digestResponse",
    "parseChallenges",
    "chooseDigestChallenge",
    "PASSWORD_HASH_TYPES",
  ];
  for (const name of plumbing) {
    assert.equal(name in publicApi, false, `${name} is exported from mod.ts`);
    assert.equal(name in httpApi, true, `${name} is missing from ./http`);
  }
  for (const name of ["BasicAuthenticator", "BearerAuthenticator", "DigestAuthenticator"]) {
    assert.equal(name in publicApi, true, `${name} is missing from mod.ts`);
  }
});
