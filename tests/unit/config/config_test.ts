import assert from "node:assert/strict";
import {
  buildOptions,
  CONFIG_KEYS,
  ConfigError,
  configFromEnv,
  ENV_KEYS,
  parseConfigText,
  type RawConfig,
} from "../../../src/config/config.ts";
import { NoAuthAuthenticator } from "../../../src/auth/no_auth.ts";
import { PassthroughAuthenticator } from "../../../src/auth/passthrough.ts";
import { FileStorage } from "../../../src/storage/file.ts";

/**
 * Expect `promise` to reject with a one-line ConfigError for `key` whose message starts with
 * the key and contains every `fragment`.
 */
async function assertConfigError(
  promise: Promise<unknown>,
  key: string,
  ...fragments: string[]
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.key, key);
  assert.ok(caught.message.startsWith(`${key}:`), caught.message);
  assert.ok(!caught.message.includes("\n"), `not one line: ${JSON.stringify(caught.message)}`);
  for (const fragment of fragments) {
    assert.ok(
      caught.message.includes(fragment),
      `${JSON.stringify(fragment)} in ${caught.message}`,
    );
  }
  return caught;
}

function build(raw: RawConfig) {
  return buildOptions(raw, "/tmp");
}

Deno.test("defaults: port 4040, host 127.0.0.1, passive 40002-40012, passthrough, file in .", async () => {
  const { options, root } = await build({});
  assert.equal(options.port, 4040);
  assert.equal(options.hostname, "127.0.0.1");
  assert.equal(options.minPassivePort, 40002);
  assert.equal(options.maxPassivePort, 40012);
  assert.ok(options.authenticator instanceof PassthroughAuthenticator);
  assert.ok(options.storage instanceof FileStorage);
  assert.equal(root, Deno.cwd());
});

Deno.test("YAML values become server options", async () => {
  const raw = await parseConfigText(
    [
      "ftp_port: 2121",
      "ftp_addr: 0.0.0.0",
      "server_name: Example",
      "min_passive_port: 50000",
      "max_passive_port: 50100",
      "passive_address: localhost",
      "authenticator: no_auth",
      "storage_config:",
      "  root: /srv/ftp",
      "upload_mode: direct",
      "idle_timeout_s: 1.5",
      "login_failure_delay_ms: 250",
      "max_login_failures: 5",
    ].join("\n"),
    "exftp.yaml",
  );
  const { options, root } = await build(raw);
  assert.equal(options.port, 2121);
  assert.equal(options.hostname, "0.0.0.0");
  assert.equal(options.serverName, "Example");
  assert.equal(options.minPassivePort, 50000);
  assert.equal(options.maxPassivePort, 50100);
  assert.equal(options.passiveAddress, "localhost");
  assert.ok(options.authenticator instanceof NoAuthAuthenticator);
  assert.equal(root, "/srv/ftp");
  assert.equal(options.idleTimeoutMs, 1500);
  assert.equal(options.loginFailureDelayMs, 250);
  assert.equal(options.maxLoginFailures, 5);
});

Deno.test("ftp_port 0 (any free port) is accepted", async () => {
  assert.equal((await build({ ftp_port: 0 })).options.port, 0);
});

Deno.test("ftp_port out of range names the key", async () => {
  await assertConfigError(build({ ftp_port: 70000 }), "ftp_port", "70000", "0 to 65535");
  await assertConfigError(build({ ftp_port: -1 }), "ftp_port", "-1");
});

Deno.test("ftp_port that is not a number names the key", async () => {
  await assertConfigError(build({ ftp_port: "abc" }), "ftp_port", "abc");
  await assertConfigError(build({ ftp_port: 21.5 }), "ftp_port", "21.5");
  await assertConfigError(build({ ftp_port: true }), "ftp_port", "true");
  await assertConfigError(build({ ftp_port: "21 22" }), "ftp_port");
});

Deno.test("passive ports out of range name their key", async () => {
  await assertConfigError(build({ min_passive_port: 65536 }), "min_passive_port", "65536");
  await assertConfigError(build({ max_passive_port: "x" }), "max_passive_port", "x");
});

Deno.test("min_passive_port greater than max_passive_port names both keys", async () => {
  await assertConfigError(
    build({ min_passive_port: 50010, max_passive_port: 50000 }),
    "min_passive_port",
    "50010",
    "max_passive_port",
    "50000",
  );
});

Deno.test("only one passive bound set to 0 is refused", async () => {
  await assertConfigError(
    build({ min_passive_port: 0, max_passive_port: 5000 }),
    "min_passive_port",
  );
});

Deno.test("passive range 0-0 (any port) is accepted", async () => {
  const { options } = await build({ min_passive_port: 0, max_passive_port: 0 });
  assert.equal(options.minPassivePort, 0);
  assert.equal(options.maxPassivePort, 0);
});

Deno.test("an unknown key is named and the known keys are listed", async () => {
  const error = await assertConfigError(build({ ftp_prot: 21 }), "ftp_prot", "unknown key");
  assert.ok(error.message.includes("ftp_port"), error.message);
});

Deno.test("an unknown authenticator is named", async () => {
  await assertConfigError(build({ authenticator: "ldap" }), "authenticator", '"ldap"');
});

Deno.test("a bad upload_mode names the key and the allowed values", async () => {
  await assertConfigError(build({ upload_mode: "fast" }), "upload_mode", "fast", "atomic");
  await assertConfigError(
    build({ storage_config: { upload_mode: "nope" } }),
    "upload_mode",
    "nope",
  );
});

Deno.test("each upload_mode value is accepted", async () => {
  for (const mode of ["atomic", "atomic_resume", "direct"]) {
    await build({ upload_mode: mode });
  }
});

Deno.test("upload_checksums: a list of algorithms reaches the options; others are refused", async () => {
  assert.equal((await build({})).options.uploadChecksums, undefined); // the default, CRC32
  const { options } = await build({ upload_checksums: ["SHA-256", "CRC32"] });
  assert.deepEqual(options.uploadChecksums, ["SHA-256", "CRC32"]);
  await assertConfigError(build({ upload_checksums: ["SHA-3"] }), "upload_checksums", "SHA-3");
  // An empty list keeps none (HASH then reads the file).
  assert.deepEqual((await build({ upload_checksums: [] })).options.uploadChecksums, []);
  await assertConfigError(build({ upload_checksums: "CRC32" }), "upload_checksums", "CRC32");
});

Deno.test("an unknown storage connector and unknown storage_config keys are named", async () => {
  await assertConfigError(build({ storage_connector: "ftp" }), "storage_connector", '"ftp"');
  await assertConfigError(build({ storage_config: { rot: "/x" } }), "storage_config.rot");
  await assertConfigError(build({ storage_config: "/x" }), "storage_config", "mapping");
});

Deno.test("other bad values name their key", async () => {
  await assertConfigError(build({ ftp_addr: "" }), "ftp_addr");
  await assertConfigError(build({ ftp_addr: "bad host!" }), "ftp_addr");
  await assertConfigError(build({ server_name: 42 }), "server_name");
  await assertConfigError(build({ log_format: "xml" }), "log_format", "xml");
  await assertConfigError(build({ idle_timeout_s: -1 }), "idle_timeout_s", "-1");
  await assertConfigError(build({ idle_timeout_s: "soon" }), "idle_timeout_s", "soon");
  await assertConfigError(build({ max_sessions: 0 }), "max_sessions", "0");
  await assertConfigError(build({ authenticator_config: [1, 2] }), "authenticator_config");
});

Deno.test("FTPS keys are checked: files, versions, policies, ftps_port needs tls", async () => {
  await assertConfigError(build({ tls: {} }), "tls.cert");
  await assertConfigError(build({ tls: { cert: "/nonexistent.pem", key: "k" } }), "tls.cert");
  await assertConfigError(build({ tls: { cert: "c", key: "k", colour: "red" } }), "tls.colour");
  await assertConfigError(
    build({ tls: { cert: "c", key: "k", min_version: "TLSv1.0" } }),
    "tls.min_version",
  );
  await assertConfigError(
    build({ tls: { cert: "c", key: "k", session_reuse: "sometimes" } }),
    "tls.session_reuse",
  );
  await assertConfigError(build({ ftps_port: 990 }), "ftps_port");
});

Deno.test("every documented key is known", () => {
  for (
    const key of [
      "ftp_port",
      "ftp_addr",
      "server_name",
      "min_passive_port",
      "max_passive_port",
      "passive_address",
      "authenticator",
      "authenticator_config",
      "storage_connector",
      "storage_config",
      "max_sessions",
      "max_sessions_per_ip",
      "login_timeout_s",
      "idle_timeout_s",
      "passive_accept_timeout_s",
      "data_stall_timeout_s",
      "login_failure_delay_ms",
      "max_login_failures",
    ]
  ) {
    assert.ok((CONFIG_KEYS as readonly string[]).includes(key), key);
  }
});

Deno.test("parseConfigText reads a YAML mapping", async () => {
  assert.deepEqual(await parseConfigText("ftp_port: 21\nserver_name: x\n", "a.yaml"), {
    ftp_port: 21,
    server_name: "x",
  });
});

Deno.test("parseConfigText treats a null document as no settings", async () => {
  assert.deepEqual(await parseConfigText("---\n", "null.yaml"), {});
  assert.deepEqual(await parseConfigText("~\n", "null.yaml"), {});
});

Deno.test("parseConfigText treats an empty or comment-only file as no settings", async () => {
  // An empty YAML stream is valid YAML (and a freshly created config file is empty);
  // js-yaml 5 throws "expected a document, but the input is empty" for it.
  assert.deepEqual(await parseConfigText("", "empty.yaml"), {});
  assert.deepEqual(await parseConfigText("\n", "empty.yaml"), {});
  assert.deepEqual(await parseConfigText("# only a comment\n", "comment.yaml"), {});
});

Deno.test("parseConfigText names the file for invalid YAML, in one line", async () => {
  await assertConfigError(
    parseConfigText("ftp_port: [1, 2\nserver_name: x\n", "conf/exftp.yaml"),
    "conf/exftp.yaml",
    "not valid YAML",
  );
  await assertConfigError(parseConfigText("a: 1\n  b: 2\n", "bad.yaml"), "bad.yaml", "YAML");
});

Deno.test("parseConfigText refuses YAML that is not a mapping", async () => {
  await assertConfigError(parseConfigText("- a\n- b\n", "list.yaml"), "list.yaml", "mapping");
  await assertConfigError(parseConfigText("42\n", "n.yaml"), "n.yaml", "mapping");
  await assertConfigError(parseConfigText("just text\n", "s.yaml"), "s.yaml", "mapping");
});

Deno.test("configFromEnv maps each environment variable to its key", () => {
  const env: Record<string, string> = {
    FTP_PORT: "2121",
    FTP_ADDR: "0.0.0.0",
    FTP_SERVER_NAME: "EnvName",
    MIN_PASSIVE_PORT: "50000",
    MAX_PASSIVE_PORT: "50010",
    FTP_PASSIVE_ADDRESS: "10.0.0.5",
    FTP_AUTHENTICATOR: "no_auth",
    FTP_STORAGE: "file",
    UNRELATED: "ignored",
  };
  assert.deepEqual(configFromEnv((name) => env[name]), {
    ftp_port: "2121",
    ftp_addr: "0.0.0.0",
    server_name: "EnvName",
    min_passive_port: "50000",
    max_passive_port: "50010",
    passive_address: "10.0.0.5",
    authenticator: "no_auth",
    storage_connector: "file",
  });
  assert.equal(Object.keys(ENV_KEYS).length, 8);
});

Deno.test("configFromEnv skips unset and empty variables", () => {
  assert.deepEqual(configFromEnv(() => undefined), {});
  assert.deepEqual(configFromEnv((name) => name === "FTP_PORT" ? "" : undefined), {});
});

Deno.test("environment strings are validated like YAML values", async () => {
  const env: Record<string, string> = {
    FTP_PORT: "2121",
    MIN_PASSIVE_PORT: "50000",
    MAX_PASSIVE_PORT: "50010",
  };
  const { options } = await build(configFromEnv((name) => env[name]));
  assert.equal(options.port, 2121);
  assert.equal(options.minPassivePort, 50000);
  assert.equal(options.maxPassivePort, 50010);
  await assertConfigError(
    build(configFromEnv((n) => n === "FTP_PORT" ? "99999" : undefined)),
    "ftp_port",
  );
  await assertConfigError(
    build(configFromEnv((n) => n === "FTP_PORT" ? "4o4o" : undefined)),
    "ftp_port",
  );
});

Deno.test("environment overrides the config file when merged over it", async () => {
  const file = await parseConfigText("ftp_port: 2121\nserver_name: FromFile\n", "f.yaml");
  const env = configFromEnv((name) => name === "FTP_PORT" ? "3131" : undefined);
  const { options } = await build({ ...file, ...env });
  assert.equal(options.port, 3131);
  assert.equal(options.serverName, "FromFile");
});

Deno.test("passive_address must be an IPv4 address or a resolvable host name", async () => {
  await assertConfigError(build({ passive_address: "no such host!!" }), "passive_address");
  await assertConfigError(build({ passive_address: "300.1.1.1" }), "passive_address");
  await assertConfigError(
    build({ passive_address: "surely-not-a-host.invalid" }),
    "passive_address",
  );
  const { options } = await buildOptions({ passive_address: "203.0.113.7" });
  assert.equal(options.passiveAddress, "203.0.113.7");
});

Deno.test("timeouts must be above 0 (a 0 would close every session at once)", async () => {
  for (
    const key of [
      "login_timeout_s",
      "idle_timeout_s",
      "passive_accept_timeout_s",
      "data_stall_timeout_s",
    ]
  ) {
    await assertConfigError(build({ [key]: 0 }), key);
  }
  const { options } = await buildOptions({ login_failure_delay_ms: 0, shutdown_grace_s: 0 });
  assert.equal(options.loginFailureDelayMs, 0);
});

Deno.test("a key left empty in YAML: no mapping, a choice's default, an error elsewhere", async () => {
  const raw = await parseConfigText(
    "log_format:\nauthenticator_config:\nstorage_config:\ntls:\n",
    "empty-values.yaml",
  );
  const { options, logFormat } = await build(raw);
  assert.equal(logFormat, "text");
  assert.equal(options.tls, undefined);
  await assertConfigError(build({ ftp_port: null }), "ftp_port", "null");
  await assertConfigError(build({ server_name: null }), "server_name", "null");
  await assertConfigError(build({ upload_mode: null }), "upload_mode", "null");
});

Deno.test("ftp_addr in brackets (as in URLs) is the address inside", async () => {
  assert.equal((await build({ ftp_addr: "[::1]" })).options.hostname, "::1");
});
