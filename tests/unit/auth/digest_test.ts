import assert from "node:assert/strict";
import {
  chooseDigestChallenge,
  digestAuthorization,
  type DigestChallenge,
  digestResponse,
  parseChallenges,
} from "../../../src/auth/digest.ts";

// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
const RFC7616 = {
  username: "Mufasa",
  password: "Circle of Life",
  realm: "http-auth@example.org",
  nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
  cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
  nc: "00000001",
  qop: "auth" as const,
  method: "GET",
  uri: "/dir/index.html",
};

const RFC7616_HEADER = `Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm=SHA-256,
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm=MD5,
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;

Deno.test("RFC 7616 §3.9.1 vector: SHA-256", async () => {
  assert.equal(
    await digestResponse({ ...RFC7616, algorithm: "SHA-256" }),
    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
  );
});

Deno.test("RFC 7616 §3.9.1 vector: MD5", async () => {
  assert.equal(
    await digestResponse({ ...RFC7616, algorithm: "MD5" }),
    "8ca523f5e9506fed4657c9700eebdbec",
  );
});

Deno.test("RFC 2617 §3.5 vector: MD5 with qop=auth", async () => {
  assert.equal(
    await digestResponse({
      algorithm: "MD5",
      username: "Mufasa",
      password: "Circle Of Life",
      realm: "testrealm@host.com",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      cnonce: "0a4f113b",
      nc: "00000001",
      qop: "auth",
      method: "GET",
      uri: "/dir/index.html",
    }),
    "6629fae49393a05397450978507c4ef1",
  );
});

Deno.test("RFC 2069 legacy form (no qop) and -sess follow their formulas", async () => {
  const { createHash } = await import("node:crypto");
  const md5 = (text: string) => createHash("md5").update(text).digest("hex");
  const sha = (text: string) => createHash("sha256").update(text).digest("hex");
  const base = { username: "u", password: "p", realm: "r", nonce: "n", method: "GET", uri: "/x?y" };
  const ha2 = md5("GET:/x?y");
  assert.equal(
    await digestResponse({ ...base, algorithm: "MD5" }),
    md5(`${md5("u:r:p")}:n:${ha2}`),
  );
  const sessHa1 = sha(`${sha("u:r:p")}:n:c`);
  assert.equal(
    await digestResponse({
      ...base,
      algorithm: "SHA-256-sess",
      cnonce: "c",
      nc: "00000001",
      qop: "auth",
    }),
    sha(`${sessHa1}:n:00000001:c:auth:${sha("GET:/x?y")}`),
  );
  assert.equal(
    await digestResponse({
      ...base,
      algorithm: "MD5-sess",
      cnonce: "c",
      nc: "00000001",
      qop: "auth-int",
    }),
    md5(`${md5(`${md5("u:r:p")}:n:c`)}:n:00000001:c:auth-int:${md5(`GET:/x?y:${md5("")}`)}`),
  );
});

Deno.test("parser: RFC 7616's two challenges, over folded lines", () => {
  const challenges = parseChallenges(RFC7616_HEADER);
  assert.equal(challenges.length, 2);
  assert.equal(challenges[0].scheme, "Digest");
  assert.deepEqual(challenges[0].params, {
    realm: "http-auth@example.org",
    qop: "auth, auth-int",
    algorithm: "SHA-256",
    nonce: RFC7616.nonce,
    opaque: RFC7616.opaque,
  });
  assert.equal(challenges[1].params.algorithm, "MD5");
});

Deno.test("parser: quoted and unquoted values, escapes, commas inside quotes, case", () => {
  const [challenge] = parseChallenges(
    'digest REALM="a, \\"b\\" \\\\ c",nonce=abc123 , QOP = "auth" ,stale=FALSE',
  );
  assert.equal(challenge.scheme, "digest");
  assert.deepEqual(challenge.params, {
    realm: 'a, "b" \\ c',
    nonce: "abc123",
    qop: "auth",
    stale: "FALSE",
  });
});

Deno.test("parser: several schemes, token68 and parameter-less challenges", () => {
  const challenges = parseChallenges(
    'Negotiate, Bearer abc.def==, Basic realm="x", Digest realm="y", nonce="z", NTLM',
  );
  assert.deepEqual(
    challenges.map((c) => [c.scheme, c.token68 ?? null, Object.keys(c.params).join()]),
    [
      ["Negotiate", null, ""],
      ["Bearer", "abc.def==", ""],
      ["Basic", null, "realm"],
      ["Digest", null, "realm,nonce"],
      ["NTLM", null, ""],
    ],
  );
});

Deno.test("parser: malformed headers are SyntaxErrors, not crashes", () => {
  for (
    const header of [
      'Digest realm="unterminated',
      "realm=x",
      "Digest realm=, nonce=x",
      'Digest realm="a" nonce="b"',
      'Digest realm="a", realm="b"',
      "Digest realm=a/b",
      '"quoted"',
      'Digest realm="a\\',
    ]
  ) {
    assert.throws(() => parseChallenges(header), SyntaxError, header);
  }
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges(" , ,"), []);
});

Deno.test("choice: SHA-256 beats MD5, whatever the order; qop auth beats auth-int", () => {
  const choice = chooseDigestChallenge(parseChallenges(
    'Basic realm="b", Digest realm="r", nonce="1", algorithm=MD5, qop="auth", ' +
      'Digest realm="r", nonce="2", algorithm=sha-256-sess, qop="auth-int, auth", opaque="o"',
  )) as DigestChallenge;
  assert.equal(choice.algorithm, "SHA-256-sess");
  assert.equal(choice.algorithmToken, "sha-256-sess");
  assert.equal(choice.nonce, "2");
  assert.equal(choice.qop, "auth");
  assert.equal(choice.opaque, "o");
});

Deno.test("choice: no algorithm means MD5; no qop means the legacy form", () => {
  const choice = chooseDigestChallenge(parseChallenges('Digest realm="r", nonce="n"'));
  assert.deepEqual(choice, {
    algorithm: "MD5",
    algorithmToken: undefined,
    realm: "r",
    nonce: "n",
    opaque: undefined,
    qop: undefined,
    userhash: false,
  });
});

Deno.test("choice: unsupported algorithm, qop or missing nonce explain themselves", () => {
  assert.deepEqual(
    chooseDigestChallenge(parseChallenges('Digest realm="r", nonce="n", algorithm=SHA-512-256')),
    { problem: 'unsupported algorithm "SHA-512-256"' },
  );
  assert.deepEqual(
    chooseDigestChallenge(parseChallenges('Digest realm="r", nonce="n", qop="auth-conf"')),
    { problem: 'unsupported qop "auth-conf"' },
  );
  assert.deepEqual(
    chooseDigestChallenge(parseChallenges('Digest realm="r"')),
    { problem: "a Digest challenge without realm or nonce" },
  );
  assert.deepEqual(chooseDigestChallenge(parseChallenges('Basic realm="r"')), {
    problem: "no Digest challenge",
  });
  // A supported challenge next to an unsupported one is used.
  const choice = chooseDigestChallenge(parseChallenges(
    'Digest realm="r", nonce="n", algorithm=SHA-512-256, Digest realm="r", nonce="m"',
  )) as DigestChallenge;
  assert.equal(choice.nonce, "m");
});

Deno.test("authorization header: RFC 7616's SHA-256 example, opaque echoed", async () => {
  const challenge = chooseDigestChallenge(parseChallenges(RFC7616_HEADER)) as DigestChallenge;
  const header = await digestAuthorization(challenge, { ...RFC7616 });
  assert.equal(
    header,
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", ' +
      'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, ' +
      'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, ' +
      'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", ' +
      'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  );
  // The header parses back with our own parser.
  const [parsed] = parseChallenges(header);
  assert.equal(parsed.params.response.length, 64);
});

Deno.test("authorization header: no opaque, nc or cnonce in the legacy form; fresh cnonces", async () => {
  const legacy = chooseDigestChallenge(
    parseChallenges('Digest realm="r", nonce="n"'),
  ) as DigestChallenge;
  const header = await digestAuthorization(legacy, {
    username: 'a"b',
    password: "p",
    method: "GET",
    uri: "/p?q=1",
  });
  assert.doesNotMatch(header, /opaque|nc=|cnonce|qop|algorithm/);
  assert.match(
    header,
    /^Digest username="a\\"b", realm="r", uri="\/p\?q=1", nonce="n", response="[0-9a-f]{32}"$/,
  );

  const withQop = chooseDigestChallenge(
    parseChallenges('Digest realm="r", nonce="n", qop=auth'),
  ) as DigestChallenge;
  const request = { username: "u", password: "p", method: "GET", uri: "/" };
  const cnonces = await Promise.all(
    [1, 2, 3].map(async () =>
      parseChallenges(await digestAuthorization(withQop, request))[0].params.cnonce
    ),
  );
  assert.equal(new Set(cnonces).size, 3);
  assert.ok(cnonces.every((cnonce) => /^[0-9a-f]{32}$/.test(cnonce)));
});

Deno.test("authorization header: userhash and non-ASCII user names", async () => {
  const { createHash } = await import("node:crypto");
  const hashed = chooseDigestChallenge(
    parseChallenges('Digest realm="api@example.org", nonce="n", algorithm=SHA-256, userhash=true'),
  ) as DigestChallenge;
  const header = await digestAuthorization(hashed, {
    username: "Jäsøn Doe",
    password: "Secret, or not?",
    method: "GET",
    uri: "/doe.json",
  });
  const expected = createHash("sha256").update("Jäsøn Doe:api@example.org").digest("hex");
  assert.match(header, new RegExp(`username="${expected}"`));
  assert.match(header, /userhash=true$/);

  const plain = chooseDigestChallenge(
    parseChallenges('Digest realm="r", nonce="n"'),
  ) as DigestChallenge;
  const utf8 = await digestAuthorization(plain, {
    username: "Jäsøn Doe",
    password: "p",
    method: "GET",
    uri: "/",
  });
  assert.match(utf8, /^Digest username\*=UTF-8''J%C3%A4s%C3%B8n%20Doe, /);
});
