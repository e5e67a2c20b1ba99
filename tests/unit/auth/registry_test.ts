import assert from "node:assert/strict";
import { AUTHENTICATORS } from "../../../src/auth/registry.ts";
import { ConfigError } from "../../../src/config/error.ts";
import { BasicAuthenticator } from "../../../src/auth/basic.ts";
import { BearerAuthenticator } from "../../../src/auth/bearer.ts";
import { DigestAuthenticator } from "../../../src/auth/digest.ts";
import type { WebhookAuthenticator } from "../../../src/auth/webhook.ts";
import { UsersFileAuthenticator } from "../../../src/auth/users_file.ts";
import { hashPassword } from "../../../src/auth/password_hash.ts";

const context = { baseDir: "/nonexistent" };

async function assertConfigError(
  build: () => unknown,
  key: string,
  message: RegExp,
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await build();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.key, key);
  assert.match(caught.message, message);
  return caught;
}

Deno.test("registry: basic, digest, bearer, webhook and users_file are registered", () => {
  for (
    const name of ["no_auth", "passthrough", "basic", "digest", "bearer", "webhook", "users_file"]
  ) {
    assert.equal(typeof AUTHENTICATORS[name], "function", name);
  }
});

Deno.test("registry: HTTP authenticators from their config, defaults filled in", async () => {
  const config = { login_url: "https://auth.example.com/login?x=1" };
  const basic = await AUTHENTICATORS.basic(config, context) as BasicAuthenticator;
  assert.ok(basic instanceof BasicAuthenticator);
  assert.equal(basic.loginUrl.href, "https://auth.example.com/login?x=1");
  assert.equal(basic.loginMethod, "GET");
  assert.equal(basic.isStillValid, undefined, "no re-validation without authenticated_url");
  assert.equal(basic.warning, undefined);
  assert.ok(await AUTHENTICATORS.digest(config, context) instanceof DigestAuthenticator);
  const bearer = await AUTHENTICATORS.bearer(config, context);
  assert.ok(bearer instanceof BearerAuthenticator);
  assert.equal(bearer.usernameOptional, true);
  const webhook = await AUTHENTICATORS.webhook(
    { ...config, login_method: "post", password_hash_type: "md5" },
    context,
  ) as WebhookAuthenticator;
  assert.equal(webhook.loginMethod, "POST");
  assert.equal(webhook.passwordHashType, "md5");

  const revalidating = await AUTHENTICATORS.basic({
    login_url: "http://127.0.0.1:9/login",
    timeout_ms: "2500",
    authenticated_url: "http://127.0.0.1:9/still-valid",
    authenticated_method: "HEAD",
    authenticated_ttl_ms: 30_000,
  }, context) as BasicAuthenticator;
  assert.equal(typeof revalidating.isStillValid, "function");
  assert.equal(revalidating.revalidateEveryMs, 30_000);
  assert.equal(revalidating.authenticatedMethod, "HEAD");
});

Deno.test("registry: plain http to another host gets a start-up warning", async () => {
  const basic = await AUTHENTICATORS.basic({ login_url: "http://auth.example.com/" }, context);
  assert.match(basic.warning!, /plain http, so credentials cross the network unencrypted/);
});

Deno.test("registry: every config mistake names its key", async () => {
  const url = "https://auth.example.com/";
  for (const name of ["basic", "digest", "bearer", "webhook"]) {
    const build = (config: Record<string, unknown>) => () => AUTHENTICATORS[name](config, context);
    await assertConfigError(build({}), "authenticator_config.login_url", /is required/);
    await assertConfigError(
      build({ login_url: "ftp://x/" }),
      "authenticator_config.login_url",
      /must be an http\(s\) URL/,
    );
    await assertConfigError(
      build({ login_url: 42 }),
      "authenticator_config.login_url",
      /must be an http\(s\) URL, got 42/,
    );
    const withPassword = await assertConfigError(
      build({ login_url: "https://admin:hunter2@auth.example.com/?key=k" }),
      "authenticator_config.login_url",
      /must not contain user:password@/,
    );
    assert.ok(!withPassword.message.includes("hunter2"), "the URL's password is not echoed");
    await assertConfigError(
      build({ login_url: url, login_url2: url }),
      "authenticator_config.login_url2",
      /unknown key for authenticator/,
    );
    await assertConfigError(
      build({ login_url: url, login_method: "GET POST" }),
      "authenticator_config.login_method",
      /must be an HTTP method/,
    );
    await assertConfigError(
      build({ login_url: url, login_method: "CONNECT" }),
      "authenticator_config.login_method",
      /not CONNECT/,
    );
    await assertConfigError(
      build({ login_url: url, timeout_ms: 0 }),
      "authenticator_config.timeout_ms",
      /from 1 to/,
    );
    await assertConfigError(
      build({ login_url: url, timeout_ms: "10s" }),
      "authenticator_config.timeout_ms",
      /whole number/,
    );
    await assertConfigError(
      build({ login_url: url, authenticated_url: "nope" }),
      "authenticator_config.authenticated_url",
      /http\(s\) URL/,
    );
    await assertConfigError(
      build({ login_url: url, authenticated_ttl_ms: 5 }),
      "authenticator_config.authenticated_ttl_ms",
      /needs authenticator_config.authenticated_url/,
    );
    await assertConfigError(
      build({ login_url: url, authenticated_method: "GET" }),
      "authenticator_config.authenticated_method",
      /needs authenticator_config.authenticated_url/,
    );
    await assertConfigError(
      build({ login_url: url, authenticated_url: url, authenticated_ttl_ms: -1 }),
      "authenticator_config.authenticated_ttl_ms",
      /from 0 to/,
    );
  }
  await assertConfigError(
    () => AUTHENTICATORS.webhook({ login_url: url, password_hash_type: "crc32" }, context),
    "authenticator_config.password_hash_type",
    /must be one of md5, sha1, sha256, sha384, sha512, got "crc32"/,
  );
  await assertConfigError(
    () => AUTHENTICATORS.basic({ login_url: url, password_hash_type: "md5" }, context),
    "authenticator_config.password_hash_type",
    /unknown key/,
  );
  await assertConfigError(
    () => AUTHENTICATORS.passthrough({ users: [] }, context),
    "authenticator_config.users",
    /takes no configuration/,
  );
});

Deno.test("registry: users_file reads its path relative to the config's folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hash = await hashPassword("pw", { iterations: 1000 });
    await Deno.mkdir(`${dir}/conf`);
    await Deno.writeTextFile(
      `${dir}/conf/users.yaml`,
      `- {username: a, password_hash: "${hash}"}\n`,
    );
    await Deno.writeTextFile(`${dir}/conf/bad.yaml`, "- {username: a, password_hash: x}\n");
    const auth = await AUTHENTICATORS.users_file({ path: "users.yaml" }, {
      baseDir: `${dir}/conf`,
    });
    assert.ok(auth instanceof UsersFileAuthenticator);
    assert.deepEqual(auth.usernames, ["a"]);
    auth.close();

    const build = (config: Record<string, unknown>) => () =>
      AUTHENTICATORS.users_file(config, { baseDir: `${dir}/conf` });
    await assertConfigError(
      build({}),
      "authenticator_config.path",
      /must be the path of a YAML or JSON users file/,
    );
    await assertConfigError(
      build({ path: "missing.yaml" }),
      "authenticator_config.path",
      /can't read ".*\/conf\/missing\.yaml"/,
    );
    await assertConfigError(
      build({ path: "bad.yaml" }),
      "authenticator_config.path",
      /bad\.yaml": users\[0\]\.password_hash: must look like/,
    );
    await assertConfigError(
      build({ path: "users.yaml", watch: true }),
      "authenticator_config.watch",
      /known keys are path/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
