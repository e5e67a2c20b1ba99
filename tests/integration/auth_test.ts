/**
 * The HTTP authenticators and the users file against real things: an HTTP
 * authentication service started here with Deno.serve (Basic, Digest with
 * every algorithm, Bearer, a webhook, status codes, a hang, redirects), the
 * FTP server, the raw client and python's ftplib.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { BasicAuthenticator } from "../../src/auth/basic.ts";
import { BearerAuthenticator } from "../../src/auth/bearer.ts";
import { DigestAuthenticator } from "../../src/auth/digest.ts";
import type { HttpAuthenticatorOptions } from "../../src/auth/http.ts";
import { hashPassword } from "../../src/auth/password_hash.ts";
import { AUTHENTICATORS } from "../../src/auth/registry.ts";
import type { Authenticator } from "../../src/auth/types.ts";
import { type PasswordHashType, WebhookAuthenticator } from "../../src/auth/webhook.ts";
import type { Logger } from "../../src/log.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { hasCommand, startServer, type TestServer } from "../helpers.ts";
import { run } from "./_clients.ts";
import { buildOptions, parseConfigText } from "../../src/config/config.ts";
import { FtpServer } from "../../src/server.ts";

// ---------------------------------------------------------------------------
// The authentication service

const PASSWORDS: Record<string, string> = {
  alice: "w0nder:länd 42",
  bob: "b0b-Pa$$",
};
const TOKENS: Record<string, string> = {
  "alice-token.abc~123": "alice",
  "bob-token": "bob",
};
const ALL_SECRETS = [...Object.values(PASSWORDS), ...Object.keys(TOKENS)];

const md5 = (text: string) => createHash("md5").update(text).digest("hex");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What the service saw of one request. */
interface SeenRequest {
  method: string;
  path: string;
  authorization: string | null;
}

interface AuthService extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  base: string;
  /** Users the service now refuses (re-validation tests). */
  revoked: Set<string>;
  /** Every request, in order. */
  seen: SeenRequest[];
  /** Digest answers accepted: algorithm, qop (or "none") and whether opaque came back. */
  digestAnswers: { algorithm: string; qop: string; opaque: boolean }[];
}

function parseAuthorizationParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/([\w*]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params[match[1].toLowerCase()] = match[2] !== undefined
      ? match[2].replace(/\\(.)/g, "$1")
      : match[3];
  }
  return params;
}

function checkBasic(request: Request, revoked: Set<string>): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.get("authorization") ?? "");
  if (!match) return false;
  const decoded = new TextDecoder().decode(Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0)));
  const colon = decoded.indexOf(":");
  const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return Object.hasOwn(PASSWORDS, user) && PASSWORDS[user] === password && !revoked.has(user);
}

/** An independent Digest server: challenge, then check every field of the answer. */
function digestEndpoint(service: AuthService, nonces: Set<string>) {
  return (request: Request, url: URL): Response => {
    const algorithm = url.searchParams.get("algorithm") ?? "MD5";
    const qop = url.searchParams.get("qop") ?? "auth";
    const withOpaque = url.searchParams.get("opaque") === "1";
    const opaque = "opaque/value+1";
    const realm = 'exftp "test", realm';
    const challenge = (nonce: string, algorithmName: string) =>
      `Digest realm="${
        realm.replaceAll('"', '\\"')
      }", nonce="${nonce}", algorithm=${algorithmName}` +
      (qop === "none" ? "" : `, qop="${qop}"`) +
      (withOpaque ? `, opaque="${opaque}"` : "");
    const refuse = () => {
      const nonce = crypto.randomUUID();
      nonces.add(nonce);
      const headers = new Headers();
      if (url.searchParams.has("multi")) {
        // Three challenges in three headers: Basic, MD5, SHA-256; the client picks SHA-256.
        headers.append("WWW-Authenticate", 'Basic realm="basic"');
        headers.append("WWW-Authenticate", challenge(nonce, "MD5"));
        headers.append("WWW-Authenticate", challenge(nonce, "SHA-256"));
      } else if (url.searchParams.has("raw")) {
        headers.set("WWW-Authenticate", url.searchParams.get("raw")!.replace("NONCE", nonce));
      } else {
        headers.set("WWW-Authenticate", challenge(nonce, algorithm));
      }
      if (url.searchParams.has("cookie")) {
        headers.append("Set-Cookie", `digest_session=${nonce}; Path=/; HttpOnly`);
        headers.append("Set-Cookie", "theme=dark");
      }
      return new Response("who are you?", { status: 401, headers });
    };
    const header = request.headers.get("authorization");
    if (!header?.startsWith("Digest ")) return refuse();
    if (url.searchParams.has("cookie")) {
      // This variant ties the nonce to the cookie sent with the challenge.
      const cookie = request.headers.get("cookie") ?? "";
      const nonce = parseAuthorizationParams(header.slice(7)).nonce;
      if (cookie !== `digest_session=${nonce}; theme=dark`) return refuse();
    }
    const p = parseAuthorizationParams(header.slice(7));
    const used = p.algorithm ?? "MD5";
    const hash = used.startsWith("SHA-256") ? sha256 : md5;
    const password = Object.hasOwn(PASSWORDS, p.username) ? PASSWORDS[p.username] : undefined;
    if (
      password === undefined || service.revoked.has(p.username) || !nonces.has(p.nonce) ||
      p.realm !== realm || p.uri !== url.pathname + url.search ||
      (withOpaque ? p.opaque !== opaque : "opaque" in p) ||
      (qop === "none" ? "qop" in p || "nc" in p : p.qop !== "auth" || p.nc !== "00000001")
    ) {
      return refuse();
    }
    let ha1 = hash(`${p.username}:${realm}:${password}`);
    if (used.endsWith("-sess")) ha1 = hash(`${ha1}:${p.nonce}:${p.cnonce}`);
    const ha2 = hash(`${request.method}:${p.uri}`);
    const expected = qop === "none"
      ? hash(`${ha1}:${p.nonce}:${ha2}`)
      : hash(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
    if (p.response !== expected) return refuse();
    nonces.delete(p.nonce); // one use per nonce
    service.digestAnswers.push({ algorithm: used, qop: p.qop ?? "none", opaque: "opaque" in p });
    return new Response("welcome");
  };
}

function startAuthService(): AuthService {
  const nonces = new Set<string>();
  const hanging: (() => void)[] = [];
  const service = {
    revoked: new Set<string>(),
    seen: [] as SeenRequest[],
    digestAnswers: [],
  } as unknown as AuthService;
  const digest = digestEndpoint(service, nonces);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const url = new URL(request.url);
    service.seen.push({
      method: request.method,
      path: url.pathname + url.search,
      authorization: request.headers.get("authorization"),
    });
    const [, first, second] = url.pathname.split("/");
    switch (first) {
      case "basic":
        return checkBasic(request, service.revoked)
          ? new Response("ok")
          : new Response("no", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="t"' } });
      case "digest":
        return digest(request, url);
      case "bearer": {
        const token = /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
        const user = token !== undefined && Object.hasOwn(TOKENS, token)
          ? TOKENS[token]
          : undefined;
        if (!user || service.revoked.has(user)) return new Response("no", { status: 401 });
        return Response.json({ username: user, scope: "ftp" });
      }
      case "webhook": {
        const user = url.searchParams.get("username") ?? "";
        const password = Object.hasOwn(PASSWORDS, user) ? PASSWORDS[user] : undefined;
        const expected = password === undefined
          ? undefined
          : createHash(second ?? "sha256").update(password).digest("hex");
        const ok = expected !== undefined && url.searchParams.get("password_hash") === expected &&
          url.searchParams.get("tenant") === "t1" && !service.revoked.has(user);
        return new Response(ok ? "yes" : "no", { status: ok ? 200 : 403 });
      }
      case "status": {
        const status = Number(second);
        return new Response([204, 304].includes(status) ? null : `status ${status}`, { status });
      }
      case "redirect":
        return new Response(null, {
          status: 302,
          headers: { Location: url.searchParams.get("to")! },
        });
      case "hang":
        // Never answers (until the service stops).
        await new Promise<void>((resolve) => hanging.push(resolve));
        return new Response("too late");
    }
    return new Response("not found", { status: 404 });
  });
  service.base = `http://127.0.0.1:${server.addr.port}`;
  service[Symbol.asyncDispose] = () => {
    for (const release of hanging) release();
    return server.shutdown();
  };
  return service;
}

// ---------------------------------------------------------------------------
// FTP side

/** Log lines captured as JSON text, so a search covers every field. */
function captureLog(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  return {
    lines,
    logger: (level, message, fields) => lines.push(JSON.stringify({ level, message, ...fields })),
  };
}

/** No password, token, their base64 or their hashes anywhere in the log. */
function assertNoSecrets(lines: string[]): void {
  const text = lines.join("\n");
  for (const secret of ALL_SECRETS) {
    const forms = [
      secret,
      encodeURIComponent(secret),
      md5(secret),
      sha256(secret),
      createHash("sha1").update(secret).digest("hex"),
      createHash("sha512").update(secret).digest("hex"),
    ];
    for (const user of Object.keys(PASSWORDS)) {
      forms.push(btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${secret}`))));
    }
    for (const form of forms) assert.ok(!text.includes(form), `a secret reached the log:\n${text}`);
  }
}

async function tryLogin(ts: TestServer, user: string, password: string): Promise<number> {
  using client = await RawFtpClient.connect(ts.addr);
  const first = await client.send(`USER ${user}`);
  if (first.code !== 331) return first.code;
  const reply = await client.send(`PASS ${password}`);
  if (reply.code === 230) assert.equal((await client.send("PWD")).code, 257);
  return reply.code;
}

function ftpServer(authenticator: Authenticator, logger: Logger): Promise<TestServer> {
  return startServer({ authenticator, logger, maxLoginFailures: 10 });
}

type HttpKind = "basic" | "digest" | "bearer" | "webhook";

const LOGIN_PATHS: Record<HttpKind, string> = {
  basic: "/basic",
  digest: "/digest?algorithm=SHA-256-sess",
  bearer: "/bearer",
  webhook: "/webhook/sha256?tenant=t1",
};

/**
 * An authenticator of a kind against the service, and the secret a user
 * types as password. With `revalidateEveryMs`, the login URL doubles as
 * `authenticated_url`.
 */
function httpAuthenticator(
  kind: HttpKind,
  service: AuthService,
  revalidateEveryMs?: number,
): { authenticator: Authenticator; secretOf: (user: string) => string } {
  const loginUrl = service.base + LOGIN_PATHS[kind];
  const options: HttpAuthenticatorOptions = revalidateEveryMs === undefined
    ? { loginUrl }
    : { loginUrl, authenticatedUrl: loginUrl, authenticatedTtlMs: revalidateEveryMs };
  const password = (user: string) => PASSWORDS[user];
  switch (kind) {
    case "basic":
      return { authenticator: new BasicAuthenticator(options), secretOf: password };
    case "digest":
      return { authenticator: new DigestAuthenticator(options), secretOf: password };
    case "bearer":
      return {
        authenticator: new BearerAuthenticator(options),
        secretOf: (user) => Object.keys(TOKENS).find((token) => TOKENS[token] === user)!,
      };
    case "webhook":
      return { authenticator: new WebhookAuthenticator(options), secretOf: password };
  }
}

const KINDS: HttpKind[] = ["basic", "digest", "bearer", "webhook"];

// ---------------------------------------------------------------------------
// Tests

Deno.test("basic: good and bad credentials through the FTP server", async () => {
  await using service = startAuthService();
  const log = captureLog();
  await using ts = await ftpServer(
    new BasicAuthenticator({ loginUrl: `${service.base}/basic` }),
    log.logger,
  );
  assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 230);
  assert.equal(await tryLogin(ts, "bob", PASSWORDS.bob), 230);
  assert.equal(await tryLogin(ts, "alice", PASSWORDS.bob), 530);
  assert.equal(await tryLogin(ts, "nobody", PASSWORDS.alice), 530);
  assert.equal(await tryLogin(ts, "al:ice", PASSWORDS.alice), 530);
  const basics = service.seen.filter((seen) => seen.path === "/basic");
  assert.equal(basics.length, 4, "al:ice was refused without asking");
  assert.ok(basics.every((seen) => seen.method === "GET"));
  assertNoSecrets(log.lines);
});

Deno.test("basic: login_method, redirects never followed, only HTTP 200 is a yes", async () => {
  await using service = startAuthService();
  const log = captureLog();
  const post = new BasicAuthenticator({ loginUrl: `${service.base}/basic`, loginMethod: "put" });
  {
    await using ts = await ftpServer(post, log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 230);
    assert.equal(service.seen.at(-1)?.method, "PUT");
  }
  const redirected = new BasicAuthenticator({
    loginUrl: `${service.base}/redirect?to=/basic`,
  });
  {
    // A redirect is a refusal, even to a URL that would say yes, and is not followed.
    await using ts = await ftpServer(redirected, log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 530);
    assert.equal(service.seen.at(-1)?.path, "/redirect?to=/basic");
  }
  // 5xx is an outage: 421, not 530 (see auth_safety_test.ts).
  for (const [status, code] of [[200, 230], [201, 530], [204, 530], [403, 530], [500, 421]]) {
    const authenticator = new BasicAuthenticator({ loginUrl: `${service.base}/status/${status}` });
    await using ts = await ftpServer(authenticator, log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), code, `HTTP ${status}`);
  }
  const odd = log.lines.filter((line) => line.includes("neither 200 nor 401/403"));
  assert.deepEqual(
    odd.map((line) => JSON.parse(line).status),
    [201, 204],
    "unexpected statuses are logged",
  );
  assertNoSecrets(log.lines);
});

Deno.test("digest: MD5, MD5-sess, SHA-256, SHA-256-sess × qop auth/none × opaque or not", async () => {
  await using service = startAuthService();
  const log = captureLog();
  for (const algorithm of ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]) {
    for (const qop of ["auth", "none"]) {
      for (const opaque of ["1", "0"]) {
        const loginUrl =
          `${service.base}/digest/x?algorithm=${algorithm}&qop=${qop}&opaque=${opaque}`;
        await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
        const label = `${algorithm} qop=${qop} opaque=${opaque}`;
        assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 230, label);
        assert.deepEqual(service.digestAnswers.at(-1), {
          algorithm,
          qop,
          opaque: opaque === "1",
        }, label);
        assert.equal(await tryLogin(ts, "alice", "wrong"), 530, label);
        assert.equal(await tryLogin(ts, "mallory", PASSWORDS.alice), 530, label);
      }
    }
  }
  assert.equal(service.digestAnswers.length, 16);
  assertNoSecrets(log.lines);
});

Deno.test("digest: several challenges → SHA-256; odd challenges are refusals with a log line", async () => {
  await using service = startAuthService();
  const log = captureLog();
  {
    const loginUrl = `${service.base}/digest?multi=1&opaque=1`;
    await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
    assert.equal(await tryLogin(ts, "bob", PASSWORDS.bob), 230);
    assert.equal(service.digestAnswers.at(-1)?.algorithm, "SHA-256");
  }
  const cases: [string, RegExp][] = [
    [
      'Digest realm="r", nonce="NONCE", algorithm=SHA-512-256',
      /unsupported algorithm "SHA-512-256"/,
    ],
    ['Digest realm="r", nonce="NONCE", qop="auth-conf"', /unsupported qop/],
    ['Digest realm="r, nonce="NONCE"', /malformed challenge \(Unexpected/],
    ['Digest realm="r', /malformed challenge \(Unterminated quoted string/],
    ['Basic realm="r"', /no Digest challenge/],
    ['Digest realm="r"', /without realm or nonce/],
  ];
  for (const [raw, message] of cases) {
    const loginUrl = `${service.base}/digest?raw=${encodeURIComponent(raw)}`;
    await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 530, raw);
    const line = JSON.parse(
      log.lines.findLast((line) => line.includes("Digest login impossible"))!,
    );
    assert.match(line.message, message);
    assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+\/digest\?…$/);
  }
  // A service that ties the nonce to a cookie gets the cookie back.
  {
    const loginUrl = `${service.base}/digest?algorithm=SHA-256&cookie=1`;
    await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
    assert.equal(await tryLogin(ts, "bob", PASSWORDS.bob), 230);
    assert.equal(await tryLogin(ts, "bob", "wrong"), 530);
  }
  // A URL that lets anyone in without a challenge is not a Digest service.
  {
    const loginUrl = `${service.base}/status/200`;
    await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 530);
    assert.match(log.lines.at(-2)!, /did not answer 401/);
  }
  assertNoSecrets(log.lines);
});

Deno.test("bearer: the password is the token; the service names the user", async () => {
  await using service = startAuthService();
  const log = captureLog();
  const authenticator = new BearerAuthenticator({ loginUrl: `${service.base}/bearer` });
  await using ts = await ftpServer(authenticator, log.logger);
  assert.equal(await tryLogin(ts, "anyone", "alice-token.abc~123"), 230);
  assert.equal(service.seen.at(-1)?.authorization, "Bearer alice-token.abc~123");
  assert.equal(await tryLogin(ts, "alice", "not-a-token"), 530);
  assert.equal(await tryLogin(ts, "alice", "bad token with spaces"), 530);

  // The user name is the one the service reports, not the USER label.
  const logins: string[] = [];
  ts.server.addEventListener("login", (event) => logins.push(event.detail.username!));
  using client = await RawFtpClient.connect(ts.addr);
  await client.login("bob", "alice-token.abc~123");
  assert.deepEqual(logins, ["alice"]);
  // PASS alone: the service names the user; the profile's unknown fields are kept.
  assert.deepEqual(
    await authenticator.authenticate({ username: "", password: "bob-token", remoteAddress: "x" }),
    { username: "bob", scope: "ftp" },
  );
  assertNoSecrets(log.lines);
});

Deno.test("webhook: username and password_hash for md5, sha1, sha256, sha384, sha512", async () => {
  await using service = startAuthService();
  const log = captureLog();
  for (const type of ["md5", "sha1", "sha256", "sha384", "sha512"] as PasswordHashType[]) {
    const authenticator = new WebhookAuthenticator({
      loginUrl: `${service.base}/webhook/${type}?tenant=t1`,
      loginMethod: type === "sha512" ? "POST" : "GET",
      passwordHashType: type,
    });
    await using ts = await ftpServer(authenticator, log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 230, type);
    const seen = new URL(service.seen.at(-1)!.path, service.base);
    assert.equal(seen.searchParams.get("tenant"), "t1", "the URL's own query is kept");
    assert.equal(seen.searchParams.get("username"), "alice");
    assert.match(seen.searchParams.get("password_hash")!, /^[0-9a-f]+$/);
    assert.equal(service.seen.at(-1)?.method, type === "sha512" ? "POST" : "GET");
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.bob), 530, type);
    assert.equal(await tryLogin(ts, "carol", PASSWORDS.alice), 530, type);
  }
  assert.ok(service.seen.every((seen) => !seen.path.includes(encodeURIComponent(PASSWORDS.alice))));
  assertNoSecrets(log.lines);
});

Deno.test("re-validation: each kind re-proves the session's own login and cuts it off when refused", async () => {
  await using service = startAuthService();
  const log = captureLog();
  for (const kind of KINDS) {
    service.revoked.clear();
    const { authenticator, secretOf } = httpAuthenticator(kind, service, 0);
    await using ts = await ftpServer(authenticator, log.logger);
    using alice = await RawFtpClient.connect(ts.addr);
    await alice.login("alice", secretOf("alice"));
    const before = service.seen.length;
    assert.equal((await alice.send("PWD")).code, 257, kind);
    assert.equal((await alice.send("PWD")).code, 257, kind);
    assert.ok(service.seen.length > before, `${kind}: re-validated with a correct proof`);

    service.revoked.add("alice");
    assert.equal((await alice.send("PWD")).code, 421, kind);
    assert.ok(await alice.closedByServer());
    assert.ok(log.lines.some((line) => line.includes("no longer accepts the user")));
  }
  assertNoSecrets(log.lines);
});

Deno.test("re-validation: asked at most once per authenticated_ttl_ms, on a separate URL", async () => {
  await using service = startAuthService();
  const log = captureLog();
  const authenticator = new BasicAuthenticator({
    loginUrl: `${service.base}/basic`,
    authenticatedUrl: `${service.base}/basic?still-valid`,
    authenticatedMethod: "HEAD",
    authenticatedTtlMs: 150,
  });
  await using ts = await ftpServer(authenticator, log.logger);
  using alice = await RawFtpClient.connect(ts.addr);
  await alice.login("alice", PASSWORDS.alice);
  const checks = () => service.seen.filter((seen) => seen.path === "/basic?still-valid");
  for (let i = 0; i < 5; i++) assert.equal((await alice.send("PWD")).code, 257);
  assert.equal(checks().length, 0, "within the TTL nothing is asked");

  service.revoked.add("alice");
  // Poll with a deadline until the TTL has passed and the re-check says no.
  const deadline = Date.now() + 5000;
  let reply = await alice.send("PWD");
  while (reply.code === 257 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    reply = await alice.send("PWD");
  }
  assert.equal(reply.code, 421);
  assert.equal(checks().length, 1);
  assert.equal(checks()[0].method, "HEAD");
  assert.ok(await alice.closedByServer());
});

Deno.test("no cross-session hole: USER alice on a second connection is not alice's login", async () => {
  await using service = startAuthService();
  const log = captureLog();
  for (const kind of KINDS) {
    const { authenticator, secretOf } = httpAuthenticator(kind, service, 60_000);
    await using ts = await ftpServer(authenticator, log.logger);
    using alice = await RawFtpClient.connect(ts.addr);
    await alice.login("alice", secretOf("alice"));
    assert.equal((await alice.send("PWD")).code, 257);

    using intruder = await RawFtpClient.connect(ts.addr);
    assert.equal((await intruder.send("USER alice")).code, 331, kind);
    for (const command of ["PWD", "LIST", "CWD /", "STOR x", "RETR x", "MKD x"]) {
      assert.equal((await intruder.send(command)).code, 530, `${kind}: ${command}`);
    }
    assert.equal((await intruder.send("PASS wrong-secret")).code, 530, kind);
    assert.equal((await intruder.send("PWD")).code, 530, kind);
    assert.equal((await intruder.send("USER alice")).code, 331, kind);
    assert.equal((await intruder.send("PASS")).code, 530, kind);
    assert.equal((await intruder.send("NOOP")).code, 200);
    assert.equal((await intruder.send("PWD")).code, 530, kind);
    // alice herself is unaffected.
    assert.equal((await alice.send("PWD")).code, 257, kind);
  }
  assertNoSecrets(log.lines);
});

Deno.test("timeouts and network errors are outages (421) with a log line naming the URL", async () => {
  await using service = startAuthService();
  const log = captureLog();
  {
    const authenticator = new BasicAuthenticator({
      loginUrl: `${service.base}/hang?key=api-key-123`,
      timeoutMs: 200,
    });
    await using ts = await ftpServer(authenticator, log.logger);
    const start = Date.now();
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 421);
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 190 && elapsed < 3000, `took ${elapsed} ms`);
    const line = JSON.parse(log.lines.find((line) => line.includes("unreachable"))!);
    assert.equal(line.url, `${service.base}/hang?…`);
    assert.equal(line.error, "no answer within 200 ms");
  }
  {
    // A port nobody listens on.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr;
    listener.close();
    const authenticator = new WebhookAuthenticator({ loginUrl: `http://127.0.0.1:${port}/hook` });
    await using ts = await ftpServer(authenticator, log.logger);
    assert.equal(await tryLogin(ts, "alice", PASSWORDS.alice), 421);
    const line = JSON.parse(log.lines.findLast((line) => line.includes("unreachable"))!);
    assert.equal(line.url, `http://127.0.0.1:${port}/hook?…`, "the query carries the hash");
    assert.ok(!line.error.includes("password_hash"), line.error);
  }
  assert.ok(!log.lines.join("").includes("api-key-123"), "the URL's query is not logged");
  assertNoSecrets(log.lines);
});

Deno.test("failed HTTP logins count towards the disconnect after max failures", async () => {
  await using service = startAuthService();
  const authenticator = new BasicAuthenticator({ loginUrl: `${service.base}/basic` });
  await using ts = await startServer({ authenticator, maxLoginFailures: 3 });
  using client = await RawFtpClient.connect(ts.addr);
  for (let i = 0; i < 2; i++) {
    await client.send("USER alice");
    assert.equal((await client.send("PASS wrong")).code, 530);
  }
  await client.send("USER alice");
  assert.equal((await client.send("PASS wrong")).code, 421);
  assert.ok(await client.closedByServer());
});

Deno.test("users file: homes and read-only through the FTP server; the file is re-read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exftp-users-" });
  try {
    const path = `${dir}/users.yaml`;
    const [alicePw, bobPw] = ["alice's pw", "bob's pw"];
    const entry = async (user: string, password: string, more = "") =>
      `  - username: ${user}\n    password_hash: "${await hashPassword(password, {
        iterations: 1000,
      })}"\n${more}`;
    await Deno.writeTextFile(
      path,
      "users:\n" + await entry("alice", alicePw, "    home: /homes/alice\n") +
        await entry("bob", bobPw, "    read_only: true\n"),
    );
    const log = captureLog();
    // Built the way the CLI builds it, relative to the config's folder.
    using authenticator = await AUTHENTICATORS.users_file(
      { path: "users.yaml" },
      { baseDir: dir, logger: log.logger },
    ) as Authenticator & Disposable;
    await using ts = await ftpServer(authenticator, log.logger);

    using alice = await RawFtpClient.connect(ts.addr);
    await alice.login("alice", alicePw);
    await alice.send("TYPE I");
    assert.equal(
      (await alice.upload("STOR a.txt", new TextEncoder().encode("A"))).at(-1)?.code,
      226,
    );
    assert.equal(await Deno.readTextFile(`${ts.root}/homes/alice/a.txt`), "A");
    assert.equal((await alice.send("PWD")).text, '"/" is the current directory');

    await Deno.writeTextFile(`${ts.root}/top.txt`, "top");
    using bob = await RawFtpClient.connect(ts.addr);
    await bob.login("bob", bobPw);
    assert.deepEqual((await bob.listing("NLST")).lines.sort(), ["homes", "top.txt"]);
    assert.equal((await bob.upload("STOR b.txt", new Uint8Array(1)))[0].code, 550);
    for (const command of ["MKD x", "DELE top.txt", "RNFR top.txt", "RMD homes"]) {
      assert.equal((await bob.send(command)).code, 550, command);
    }

    // Unknown user and wrong password: the same reply.
    using intruder = await RawFtpClient.connect(ts.addr);
    await intruder.send("USER alice");
    const wrong = await intruder.send("PASS nope");
    await intruder.send("USER ghost");
    const unknown = await intruder.send("PASS nope");
    assert.deepEqual(wrong, unknown);
    assert.equal(wrong.code, 530);

    // Edit the file: carol appears, bob's password changes.
    await Deno.writeTextFile(
      path,
      "users:\n" + await entry("carol", "carol's pw") + await entry("bob", "new pw"),
    );
    assert.equal(await tryLogin(ts, "carol", "carol's pw"), 230);
    assert.equal(await tryLogin(ts, "bob", bobPw), 530);
    assert.equal(await tryLogin(ts, "bob", "new pw"), 230);
    assert.equal(await tryLogin(ts, "alice", alicePw), 530);
    assert.ok(log.lines.some((line) => line.includes("Users file loaded")));
    assert.ok(!log.lines.join("").includes("pw"), "no password in the log");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// A real client: python's ftplib

const FTPLIB_SCRIPT = `
import ftplib, json, sys
port = int(sys.argv[1])
results = []
for user, password in json.loads(sys.argv[2]):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=20)
    try:
        ftp.login(user, password)
        results.append(ftp.pwd())
        ftp.quit()
    except ftplib.error_perm as error:
        results.append(str(error)[:3])
        ftp.close()
print(json.dumps(results))
`;

async function ftplibLogins(ts: TestServer, logins: [string, string][]): Promise<string[]> {
  const result = await run("python3", [
    "-c",
    FTPLIB_SCRIPT,
    String(ts.addr.port),
    JSON.stringify(logins),
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test({
  name:
    "ftplib logs in with good credentials and is refused with bad ones, for every authenticator",
  ignore: !hasCommand("python3"),
  async fn() {
    await using service = startAuthService();
    const log = captureLog();
    for (const kind of KINDS) {
      const { authenticator, secretOf } = httpAuthenticator(kind, service);
      await using ts = await ftpServer(authenticator, log.logger);
      assert.deepEqual(
        await ftplibLogins(ts, [
          ["alice", secretOf("alice")],
          ["bob", secretOf("bob")],
          ["alice", secretOf("bob") + "x"],
          ["nobody", "whatever"],
        ]),
        ["/", "/", "530", "530"],
        kind,
      );
    }
    // Every Digest variant, with ftplib.
    for (const algorithm of ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]) {
      const loginUrl = `${service.base}/digest?algorithm=${algorithm}&qop=none&opaque=1`;
      await using ts = await ftpServer(new DigestAuthenticator({ loginUrl }), log.logger);
      assert.deepEqual(
        await ftplibLogins(ts, [["alice", PASSWORDS.alice], ["alice", "x"]]),
        ["/", "530"],
        algorithm,
      );
    }
    assertNoSecrets(log.lines);
  },
});

Deno.test({
  name: "ftplib logs in with a hash printed by hash-password, from a users file",
  ignore: !hasCommand("python3"),
  async fn() {
    const script = new URL("../../src/config/hash_password.ts", import.meta.url).pathname;
    const hashed = await run(Deno.execPath(), [
      "run",
      "--no-config",
      script,
      "--iterations",
      "5000",
    ], {
      stdin: "tea for two\n",
    });
    assert.equal(hashed.code, 0, hashed.stderr);
    const dir = await Deno.makeTempDir({ prefix: "exftp-users-" });
    try {
      await Deno.writeTextFile(
        `${dir}/users.json`,
        JSON.stringify({ users: [{ username: "tea", password_hash: hashed.stdout.trim() }] }),
      );
      using authenticator = await AUTHENTICATORS.users_file(
        { path: `${dir}/users.json` },
        { baseDir: "/" },
      ) as Authenticator & Disposable;
      const log = captureLog();
      await using ts = await ftpServer(authenticator, log.logger);
      assert.deepEqual(
        await ftplibLogins(ts, [["tea", "tea for two"], ["tea", "tea for one"]]),
        ["/", "530"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "configured from YAML only: basic with re-validation, digest, bearer, webhook, ftplib",
  ignore: !hasCommand("python3"),
  async fn() {
    await using service = startAuthService();
    const root = await Deno.makeTempDir({ prefix: "exftp-yaml-" });
    const log = captureLog();
    try {
      const configs: Record<string, string> = {
        basic: `
authenticator: basic
authenticator_config:
  login_url: ${service.base}/basic
  login_method: POST
  timeout_ms: 2000
  authenticated_url: ${service.base}/basic
  authenticated_method: GET
  authenticated_ttl_ms: 0`,
        digest: `
authenticator: digest
authenticator_config:
  login_url: "${service.base}/digest?algorithm=SHA-256&qop=auth&opaque=1"`,
        bearer: `
authenticator: bearer
authenticator_config: { login_url: "${service.base}/bearer" }`,
        webhook: `
authenticator: webhook
authenticator_config:
  login_url: ${service.base}/webhook/sha512?tenant=t1
  password_hash_type: sha512`,
      };
      for (const [kind, yaml] of Object.entries(configs)) {
        const raw = await parseConfigText(
          `ftp_port: 0\nmin_passive_port: 0\nmax_passive_port: 0\nlogin_failure_delay_ms: 0\n` +
            `storage_config: { root: "${root}" }\n${yaml}\n`,
          `${kind}.yaml`,
        );
        const { options } = await buildOptions(raw, root);
        await using server = new FtpServer({ ...options, logger: log.logger });
        const addr = await server.listen();
        const secret = kind === "bearer" ? "bob-token" : PASSWORDS.bob;
        const ts = { addr } as TestServer;
        assert.deepEqual(
          await ftplibLogins(ts, [["bob", secret], ["bob", "wrong"], ["alice", secret]]),
          ["/", "530", kind === "bearer" ? "/" : "530"],
          kind,
        );
      }
      assert.ok(service.seen.some((seen) => seen.method === "POST" && seen.path === "/basic"));
      assertNoSecrets(log.lines);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
