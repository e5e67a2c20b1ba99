/**
 * What an authentication service does must never let the wrong user in or
 * lock the right ones out: redirects are refusals and are never followed
 * (Digest too), an outage is 421 and not a failure, a bearer session's user is
 * one the service vouched for, PASS may come alone for tokens, and a ban
 * reaches sessions opened before it. Real services (Deno.serve on port 0),
 * the FTP server, the raw client, curl and python's ftplib.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BasicAuthenticator } from "../../src/auth/basic.ts";
import { BearerAuthenticator } from "../../src/auth/bearer.ts";
import { DigestAuthenticator } from "../../src/auth/digest.ts";
import type { HttpAuthenticatorOptions } from "../../src/auth/http.ts";
import { PassthroughAuthenticator } from "../../src/auth/passthrough.ts";
import { type Authenticator, AuthUnavailableError } from "../../src/auth/types.ts";
import { WebhookAuthenticator } from "../../src/auth/webhook.ts";
import type { Logger } from "../../src/log.ts";
import { ServerMetrics } from "../../src/metrics.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { hasCommand, startServer, type TestServer } from "../helpers.ts";
import { run } from "./_clients.ts";

const PASSWORDS: Record<string, string> = { alice: "alice-pw", bob: "bob-pw" };
const TOKENS: Record<string, string> = { "alice-token": "alice", "bob-token": "bob" };
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

interface Seen {
  path: string;
  authorization: string | null;
  ftpUser: string | null;
}

/**
 * A service that, like most web frameworks, answers bad credentials with
 * `302 → /login`; `/login` is a page answering 200 to anything (and, with
 * `?challenge`, a Digest challenge then 200 to any answer). Every request to
 * `/login` is kept: it must never see one.
 */
interface TrapService extends AsyncDisposable {
  base: string;
  seen: Seen[];
  loginPage: Seen[];
  revoked: Set<string>;
  /** Status the `/status` endpoint answers. */
  status: number;
}

function basicUser(request: Request): string | undefined {
  const match = /^Basic (\S+)$/.exec(request.headers.get("authorization") ?? "");
  if (!match) return undefined;
  const [user, password] = atob(match[1]).split(":");
  return PASSWORDS[user] === password ? user : undefined;
}

function startTrap(): TrapService {
  const hanging: (() => void)[] = [];
  const service = { seen: [], loginPage: [], revoked: new Set(), status: 500 } as unknown as
    & TrapService
    & { seen: Seen[] };
  const toLogin = () => new Response(null, { status: 302, headers: { Location: "/login?next=x" } });
  const nonce = "n-" + crypto.randomUUID();
  const challenge = () =>
    new Response("who?", {
      status: 401,
      headers: { "WWW-Authenticate": `Digest realm="r", nonce="${nonce}", qop="auth"` },
    });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const seen = {
      path: url.pathname + url.search,
      authorization: request.headers.get("authorization"),
      ftpUser: request.headers.get("x-ftp-username"),
    };
    service.seen.push(seen);
    const ok = (user: string | undefined) => user !== undefined && !service.revoked.has(user);
    switch (url.pathname) {
      case "/login":
        service.loginPage.push(seen);
        if (url.searchParams.has("challenge") && !seen.authorization) return challenge();
        return new Response("<form>please log in</form>");
      case "/basic":
        return ok(basicUser(request)) ? new Response("ok") : toLogin();
      case "/digest": {
        // Challenge, then: a bad answer goes to the login page.
        const auth = seen.authorization ?? "";
        if (!auth.startsWith("Digest ")) return challenge();
        const p = Object.fromEntries(
          [...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]]),
        );
        const password = PASSWORDS[p.username];
        const ha1 = createHash("md5").update(`${p.username}:r:${password}`).digest("hex");
        const ha2 = createHash("md5").update(`${request.method}:${p.uri}`).digest("hex");
        const expected = createHash("md5")
          .update(`${ha1}:${nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`).digest("hex");
        return password !== undefined && p.response === expected && ok(p.username)
          ? new Response("ok")
          : toLogin();
      }
      case "/digest-elsewhere":
        // Even the challenge request is redirected, to a page that challenges.
        return new Response(null, { status: 302, headers: { Location: "/login?challenge=1" } });
      case "/bearer": {
        const token = /^Bearer (\S+)$/.exec(seen.authorization ?? "")?.[1] ?? "";
        // Names the token's user, as a token service must (see BearerAuthenticator).
        return ok(TOKENS[token]) ? Response.json({ username: TOKENS[token] }) : toLogin();
      }
      case "/webhook": {
        const user = url.searchParams.get("username") ?? "";
        const good = PASSWORDS[user] !== undefined &&
          url.searchParams.get("password_hash") === sha256(PASSWORDS[user]);
        return good && ok(user) ? new Response("ok") : toLogin();
      }
      case "/status":
        return new Response("status", { status: service.status });
      case "/hang":
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

function captureLog(): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: (level, message, fields) => lines.push({ level, message, ...fields }) };
}

type Kind = "basic" | "digest" | "bearer" | "webhook";
const KINDS: Kind[] = ["basic", "digest", "bearer", "webhook"];

function authenticatorOf(kind: Kind, options: HttpAuthenticatorOptions): Authenticator {
  switch (kind) {
    case "basic":
      return new BasicAuthenticator(options);
    case "digest":
      return new DigestAuthenticator(options);
    case "bearer":
      return new BearerAuthenticator(options);
    case "webhook":
      return new WebhookAuthenticator(options);
  }
}

/** The good secret of a user for a kind (a token for bearer). */
function secretOf(kind: Kind, user: string): string {
  if (kind !== "bearer") return PASSWORDS[user];
  return Object.keys(TOKENS).find((token) => TOKENS[token] === user)!;
}

/** The reply codes curl saw, in order (from its -v trace). */
async function curlCodes(ts: TestServer, user: string, password: string): Promise<number[]> {
  const result = await run("curl", [
    "-sS",
    "-v",
    "--max-time",
    "20",
    "--user",
    `${user}:${password}`,
    `ftp://127.0.0.1:${ts.addr.port}/`,
  ], { timeoutMs: 30_000 });
  return [...result.stderr.matchAll(/^< (\d{3})[ -]/gm)].map((match) => Number(match[1]));
}

/** What python's ftplib gets for a login: "230", or the first line of the error. */
async function ftplibLogin(ts: TestServer, user: string, password: string): Promise<string> {
  const script = `
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", ${ts.addr.port}, timeout=20)
try:
    print(ftp.login(sys.argv[1], sys.argv[2]).split()[0])
except ftplib.all_errors as error:
    print(str(error).split()[0])
`;
  const result = await run("python3", ["-c", script, user, password], { timeoutMs: 30_000 });
  return result.stdout.trim();
}

const HAS_CURL = hasCommand("curl");
const HAS_PYTHON = hasCommand("python3");

Deno.test({
  name: "a 302 → /login from login_url is a refusal for every kind; /login sees nothing",
  ignore: !HAS_CURL,
  async fn() {
    await using service = startTrap();
    for (const kind of KINDS) {
      const log = captureLog();
      const authenticator = authenticatorOf(kind, { loginUrl: `${service.base}/${kind}` });
      await using ts = await startServer({ authenticator, logger: log.logger });
      // The good secret still works (so the service is right) ...
      assert.equal((await curlCodes(ts, "alice", secretOf(kind, "alice"))).at(-1), 226, kind);
      // ... and a bad one is a 530 over FTP, not a login.
      const codes = await curlCodes(ts, "alice", kind === "bearer" ? "wrong-token" : "wrong");
      assert.ok(codes.includes(530) && !codes.includes(230), `${kind}: ${codes}`);
      using raw = await RawFtpClient.connect(ts.addr);
      assert.equal((await raw.send("USER bob")).code, 331);
      assert.equal((await raw.send("PASS not-bobs")).code, 530, kind);
      const redirect = log.lines.find((line) => String(line.message).includes("redirect"));
      assert.equal(redirect?.location, `${service.base}/login?…`, `${kind}: Location logged`);
      assert.equal(redirect?.status, 302);
    }
    assert.deepEqual(service.loginPage, [], "the redirect target never received a request");
  },
});

Deno.test("digest: neither the challenge request nor the answer follows a redirect", async () => {
  await using service = startTrap();
  const log = captureLog();
  const authenticator = new DigestAuthenticator({ loginUrl: `${service.base}/digest-elsewhere` });
  await using ts = await startServer({ authenticator, logger: log.logger });
  using client = await RawFtpClient.connect(ts.addr);
  assert.equal((await client.send("USER alice")).code, 331);
  assert.equal((await client.send(`PASS ${PASSWORDS.alice}`)).code, 530);
  assert.deepEqual(service.loginPage, [], "the challenge was not fetched from the redirect target");
  assert.ok(log.lines.some((line) => line.location === `${service.base}/login?…`));
});

Deno.test("re-validation: a 302 from authenticated_url ends the session; /login sees nothing", async () => {
  await using service = startTrap();
  for (const kind of KINDS) {
    service.revoked.clear();
    const loginUrl = `${service.base}/${kind}`;
    const authenticator = authenticatorOf(kind, {
      loginUrl,
      authenticatedUrl: loginUrl,
      authenticatedTtlMs: 0,
    });
    await using ts = await startServer({ authenticator });
    using client = await RawFtpClient.connect(ts.addr);
    await client.login("alice", secretOf(kind, "alice"));
    assert.equal((await client.send("PWD")).code, 257, kind);
    service.revoked.add("alice");
    assert.equal((await client.send("PWD")).code, 421, kind);
    assert.ok(await client.closedByServer(), kind);
  }
  assert.deepEqual(service.loginPage, []);
});

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test({
  name: "outage (refused, timeout, 500, 503) is 421 and close, logged, counted, never a failure",
  ignore: !HAS_PYTHON,
  async fn() {
    await using service = startTrap();
    const cases: [string, HttpAuthenticatorOptions, number?][] = [
      ["refused", { loginUrl: `http://127.0.0.1:${closedPort()}/basic` }],
      ["timeout", { loginUrl: `${service.base}/hang`, timeoutMs: 200 }],
      ["500", { loginUrl: `${service.base}/status` }, 500],
      ["503", { loginUrl: `${service.base}/status` }, 503],
    ];
    for (const [label, options, status] of cases) {
      if (status) service.status = status;
      for (const kind of KINDS) {
        const log = captureLog();
        // One failure would close the session and ban the address.
        await using ts = await startServer({
          authenticator: authenticatorOf(kind, options),
          logger: log.logger,
          maxLoginFailures: 1,
          banAfterFailures: 1,
          banMs: 60_000,
        });
        const metrics = new ServerMetrics(ts.server);
        let failed = 0;
        ts.server.addEventListener("login-failed", () => failed++);
        for (let i = 0; i < 2; i++) {
          using client = await RawFtpClient.connect(ts.addr);
          assert.equal((await client.send("USER alice")).code, 331, `${label} ${kind}`);
          const reply = await client.send(`PASS ${secretOf(kind, "alice")}`);
          assert.equal(reply.code, 421, `${label} ${kind}: ${reply.lines}`);
          assert.ok(await client.closedByServer());
        }
        // A real client sees the same, and is not banned.
        assert.equal(await ftplibLogin(ts, "alice", secretOf(kind, "alice")), "421");
        assert.equal(failed, 0, `${label} ${kind}: not a failed login`);
        const text = metrics.render();
        assert.match(text, /^exftp_auth_unavailable_total 3$/m, `${label} ${kind}`);
        assert.match(text, /^exftp_logins_total\{result="failed"\} 0$/m);
        assert.ok(
          log.lines.some((line) =>
            line.level === "error" && String(line.message).includes("service unavailable")
          ),
          `${label} ${kind}: logged at error level`,
        );
      }
    }
  },
});

Deno.test("re-validation outage: 421 and close, counted as an outage", async () => {
  await using service = startTrap();
  service.status = 200;
  const authenticator = new BasicAuthenticator({
    loginUrl: `${service.base}/basic`,
    authenticatedUrl: `${service.base}/status`,
    authenticatedTtlMs: 0,
  });
  await using ts = await startServer({ authenticator });
  const metrics = new ServerMetrics(ts.server);
  using client = await RawFtpClient.connect(ts.addr);
  await client.login("alice", PASSWORDS.alice);
  assert.equal((await client.send("PWD")).code, 257);
  service.status = 503;
  const reply = await client.send("PWD");
  assert.equal(reply.code, 421);
  assert.match(reply.lines.join(""), /service not available/);
  assert.ok(await client.closedByServer());
  assert.match(metrics.render(), /^exftp_auth_unavailable_total 1$/m);
});

Deno.test("custom authenticators: AuthUnavailableError is 421 without a failure; other throws are 530", async () => {
  let failed = 0;
  const down: Authenticator = {
    authenticate: () => Promise.reject(new AuthUnavailableError("user database down")),
  };
  const buggy: Authenticator = { authenticate: () => Promise.reject(new Error("bug")) };
  for (const [authenticator, code, failures] of [[down, 421, 0], [buggy, 530, 1]] as const) {
    failed = 0;
    await using ts = await startServer({ authenticator });
    ts.server.addEventListener("login-failed", () => failed++);
    using client = await RawFtpClient.connect(ts.addr);
    await client.send("USER alice");
    assert.equal((await client.send("PASS pw")).code, code);
    assert.equal(failed, failures);
  }
});

/**
 * What another copy of the module throws: a custom authenticator loaded by the bundle
 * (`exftp.js`), a compiled binary, or a CLI of another version imports its own
 * `@exftp/server`, so its AuthUnavailableError is not the server's class.
 */
class ForeignAuthUnavailableError extends Error {
  override name = "AuthUnavailableError";
}

Deno.test("an AuthUnavailableError from another copy of the module is an outage too (421, no failure, no ban)", async () => {
  let failed = 0;
  let outages = 0;
  const authenticator: Authenticator = {
    authenticate: ({ username }) =>
      username === "alice"
        ? Promise.reject(new ForeignAuthUnavailableError("user database down"))
        : Promise.resolve({ username }),
    isStillValid: () => Promise.reject(new ForeignAuthUnavailableError("user database down")),
  };
  await using ts = await startServer({
    authenticator,
    banAfterFailures: 1,
    loginFailureDelayMs: 0,
  });
  ts.server.addEventListener("login-failed", () => failed++);
  ts.server.addEventListener("auth-unavailable", () => outages++);
  for (let i = 0; i < 2; i++) {
    using client = await RawFtpClient.connect(ts.addr);
    await client.send("USER alice");
    assert.equal((await client.send("PASS pw")).code, 421, `attempt ${i + 1}`);
  }
  assert.equal(failed, 0);
  assert.equal(outages, 2);
  // Re-validation: the same outage ends the session as an outage, not as a revoked user.
  using client = await RawFtpClient.connect(ts.addr);
  await client.login("bob", "pw");
  const reply = await client.send("PWD");
  assert.equal(reply.code, 421);
  assert.match(reply.lines.join(""), /service not available/);
  assert.equal(outages, 3);
});

// ---------------------------------------------------------------------------
// Bearer: whose folder a token opens

/**
 * Token services: `/pair` checks `X-FTP-Username` when it is sent (and names
 * no one); `/names` ignores it and names the token's user in JSON; `/bare`
 * says 200 to any known token and names no one.
 */
function startTokenService(): { base: string; seen: Seen[] } & AsyncDisposable {
  const seen: Seen[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const url = new URL(request.url);
    const token = /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    const claimed = request.headers.get("x-ftp-username");
    seen.push({ path: url.pathname, authorization: null, ftpUser: claimed });
    const user = Object.hasOwn(TOKENS, token) ? TOKENS[token] : undefined;
    if (!user) return new Response("no", { status: 401 });
    switch (url.pathname) {
      case "/pair":
        return claimed === null || decodeURIComponent(claimed) === user
          ? new Response("yes")
          : new Response("not your token", { status: 403 });
      case "/echo":
        // Checks the pair and says so by echoing the name it confirmed.
        return claimed === null || decodeURIComponent(claimed) === user
          ? new Response("yes", { headers: { "X-FTP-Username": encodeURIComponent(user) } })
          : new Response("not your token", { status: 403 });
      case "/names":
        return Response.json({ username: user });
      case "/bare":
        return new Response("yes");
    }
    return new Response("not found", { status: 404 });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A server whose storage is one folder per user name (like `prefix: "{username}"`). */
async function perUserServer(
  loginUrl: string,
  serviceChecksUsername = false,
): Promise<TestServer> {
  const users = await Deno.makeTempDir({ prefix: "exftp-per-user-" });
  for (const user of ["alice", "bob"]) {
    await Deno.mkdir(join(users, user));
    await Deno.writeTextFile(join(users, user, "secret.txt"), `${user}'s secret`);
  }
  const ts = await startServer({
    authenticator: new BearerAuthenticator({ loginUrl, serviceChecksUsername }),
    storage: (user) => new FileStorage({ root: join(users, user.username) }),
  });
  return {
    ...ts,
    async [Symbol.asyncDispose]() {
      await ts[Symbol.asyncDispose]();
      await Deno.remove(users, { recursive: true });
    },
  };
}

/** Log in (PASS alone when `user` is undefined); the secret file's text, or the PASS code. */
async function secretSeen(ts: TestServer, user: string | undefined, token: string) {
  using client = await RawFtpClient.connect(ts.addr);
  if (user !== undefined) assert.equal((await client.send(`USER ${user}`)).code, 331);
  const reply = await client.send(`PASS ${token}`);
  if (reply.code !== 230) return reply.code;
  const { data } = await client.download("RETR secret.txt");
  return new TextDecoder().decode(data);
}

Deno.test("bearer: a valid token opens only the folder of the user the service vouches for", async () => {
  await using tokens = startTokenService();
  {
    // The service checks the pair it is sent, and the config says so.
    await using ts = await perUserServer(`${tokens.base}/pair`, true);
    assert.equal(await secretSeen(ts, "bob", "bob-token"), "bob's secret");
    assert.equal(await secretSeen(ts, "alice", "bob-token"), 530, "bob's token is not alice's");
    assert.equal(tokens.seen.at(-1)?.ftpUser, "alice", "the claimed USER was sent");
    // Named no one and no USER: nobody to be.
    assert.equal(await secretSeen(ts, undefined, "bob-token"), 530);
  }
  {
    // The service names the user: that is who the session is, whatever USER said.
    await using ts = await perUserServer(`${tokens.base}/names`);
    assert.equal(await secretSeen(ts, "alice", "bob-token"), "bob's secret");
    assert.equal(await secretSeen(ts, undefined, "bob-token"), "bob's secret");
    assert.equal(await secretSeen(ts, "alice", "alice-token"), "alice's secret");
  }
  {
    // A service that names no one and ignores the header: PASS alone is refused.
    await using ts = await perUserServer(`${tokens.base}/bare`);
    assert.equal(await secretSeen(ts, undefined, "bob-token"), 530);
  }
  // Names outside ASCII are sent percent-encoded.
  {
    await using ts = await perUserServer(`${tokens.base}/pair`);
    assert.equal(await secretSeen(ts, "bøb", "bob-token"), 530);
    assert.equal(tokens.seen.at(-1)?.ftpUser, "b%C3%B8b");
  }
});

// Issue 10, item 5: a token service that checks only the token (answers 200, names no one,
// ignores X-FTP-Username) must not let bob's token open alice's folder: an answer that names
// no one is refused unless the config says the service checks the pair it is sent.
Deno.test({
  name:
    "bearer: a service that checks only the token can't let one user's token open another's folder",
  async fn() {
    await using tokens = startTokenService();
    {
      await using ts = await perUserServer(`${tokens.base}/bare`);
      assert.equal(
        await secretSeen(ts, "alice", "bob-token"),
        530,
        "bob's token opened alice's folder",
      );
      assert.equal(await secretSeen(ts, "bob", "bob-token"), 530, "no one was named");
    }
    {
      // A service that checks the pair but doesn't echo it: refused unless configured so.
      await using ts = await perUserServer(`${tokens.base}/pair`);
      assert.equal(await secretSeen(ts, "bob", "bob-token"), 530);
    }
    {
      // Echoing X-FTP-Username back confirms the pair.
      await using ts = await perUserServer(`${tokens.base}/echo`);
      assert.equal(await secretSeen(ts, "bob", "bob-token"), "bob's secret");
      assert.equal(await secretSeen(ts, "alice", "bob-token"), 530);
    }
  },
});

Deno.test({
  name: "bearer: PASS <token> alone logs in (usernameOptional); curl with an empty user too",
  ignore: !HAS_CURL,
  async fn() {
    await using tokens = startTokenService();
    await using ts = await perUserServer(`${tokens.base}/names`);
    const logins: string[] = [];
    ts.server.addEventListener("login", (event) => logins.push(event.detail.username!));
    using client = await RawFtpClient.connect(ts.addr);
    assert.equal((await client.send("PASS alice-token")).code, 230);
    assert.equal((await client.send("PWD")).code, 257);
    assert.deepEqual(logins, ["alice"]);
    assert.equal(tokens.seen.at(-1)?.ftpUser, null, "no USER, no claimed name");

    const result = await run("curl", [
      "-sS",
      "--max-time",
      "20",
      "--user",
      ":bob-token",
      `ftp://127.0.0.1:${ts.addr.port}/secret.txt`,
    ], { timeoutMs: 30_000 });
    assert.equal(result.stdout, "bob's secret", result.stderr);

    // Authenticators that need a name still want USER first.
    await using plain = await startServer({ authenticator: new PassthroughAuthenticator() });
    using other = await RawFtpClient.connect(plain.addr);
    assert.equal((await other.send("PASS x")).code, 503);
  },
});

// ---------------------------------------------------------------------------
// Bans reach open sessions

Deno.test("a ban applies to the address's sessions opened before it", async () => {
  await using ts = await startServer({
    authenticator: new PassthroughAuthenticator(),
    banAfterFailures: 2,
    banMs: 60_000,
    maxLoginFailures: 10,
  });
  using early = await RawFtpClient.connect(ts.addr);
  using halfway = await RawFtpClient.connect(ts.addr);
  assert.equal((await halfway.send("USER carol")).code, 331, "USER sent before the ban");
  using attacker = await RawFtpClient.connect(ts.addr);
  for (let i = 0; i < 2; i++) {
    assert.equal((await attacker.send("USER root")).code, 331);
    assert.equal((await attacker.send("PASS guess")).code, 530);
  }
  // The ban is on: every open session's next attempt is refused with the ban reply.
  for (const [client, line] of [[early, "USER carol"], [halfway, "PASS x"], [attacker, "USER a"]]) {
    const reply = await (client as RawFtpClient).send(line as string);
    assert.equal(reply.code, 421, `${line}: ${reply.lines}`);
    assert.match(reply.lines.join(""), /Too many failed logins/);
    assert.ok(await (client as RawFtpClient).closedByServer());
  }
});
