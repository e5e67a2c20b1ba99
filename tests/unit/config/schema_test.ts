import assert from "node:assert/strict";
import { buildOptions, ConfigError, flagOptions, withFlags } from "../../../src/config/config.ts";
import { helpText } from "../../../src/config/docs.ts";
import { CLI_FLAGS, ENV_KEYS, type Setting, SETTINGS } from "../../../src/config/schema.ts";
import { DEFAULTS, resolveOptions } from "../../../src/options.ts";
import * as path from "node:path";
import { MemoryStorage } from "../../../src/storage/memory.ts";
import { PassthroughAuthenticator } from "../../../src/auth/passthrough.ts";

/** What every embedder must pass. */
const REQUIRED = { authenticator: new PassthroughAuthenticator(), storage: new MemoryStorage() };

const bySetting = (key: string): Setting => SETTINGS.find((setting) => setting.key === key)!;

/** The message after the key, of what `run` throws. */
async function problemOf(run: () => unknown): Promise<{ type: string; problem: string }> {
  try {
    await run();
  } catch (error) {
    const message = (error as Error).message;
    const problem = error instanceof ConfigError
      ? message.slice(error.key.length + 2)
      : message.replace(/^Option "\w+" /, "");
    return { type: (error as Error).name, problem };
  }
  throw new Error("did not throw");
}

Deno.test("a bad option and a bad config key get the same problem from the same rule", async () => {
  const cases: [string, unknown, unknown][] = [
    // key, YAML value, option value (in ms for durations)
    ["ftp_port", 70000, 70000],
    ["min_passive_port", -1, -1],
    ["max_sessions", 0, 0],
    ["max_sessions_per_ip", 1.5, 1.5],
    ["ban_after_failures", -1, -1],
    ["ftps_port", 65536, 65536],
    ["server_name", 42, 42],
    ["ftp_addr", "bad host!", "bad host!"],
    ["login_failure_delay_ms", -1, -1],
  ];
  for (const [key, yaml, option] of cases) {
    const setting = bySetting(key);
    const fromConfig = await problemOf(() => buildOptions({ [key]: yaml }, "/tmp"));
    const fromOptions = await problemOf(() =>
      resolveOptions({ ...REQUIRED, [setting.option!]: option })
    );
    assert.equal(fromConfig.type, "ConfigError", key);
    assert.match(fromOptions.type, /^(Range|Type)Error$/, key);
    assert.equal(fromConfig.problem, fromOptions.problem, key);
  }
});

Deno.test("timeouts in seconds and minutes are checked as milliseconds by the options' rule", async () => {
  for (const [key, option] of [["idle_timeout_s", 0], ["ban_minutes", 0]] as const) {
    const fromConfig = await problemOf(() => buildOptions({ [key]: option }, "/tmp"));
    const fromOptions = await problemOf(() =>
      resolveOptions({ ...REQUIRED, [bySetting(key).option!]: 0 })
    );
    assert.equal(fromConfig.problem, "must be a number above 0, got 0");
    assert.equal(fromOptions.problem, "must be a number above 0, got 0");
  }
  assert.equal((await buildOptions({ ban_minutes: 2 }, "/tmp")).options.banMs, 120_000);
  await assert.rejects(buildOptions({ ban_minutes: 40_000 }, "/tmp"), /ban_minutes: is too large/);
  assert.throws(() => resolveOptions({ ...REQUIRED, banMs: 2 ** 31 }), /"banMs" is too large/);
});

Deno.test("the passive range and implicit FTPS rules hold for options as for the config", () => {
  assert.throws(
    () => resolveOptions({ ...REQUIRED, minPassivePort: 50010, maxPassivePort: 50000 }),
    (error: Error) =>
      error instanceof RangeError &&
      error.message ===
        'Option "minPassivePort" (50010) must not be greater than "maxPassivePort" (50000)',
  );
  assert.throws(() => resolveOptions({ ...REQUIRED, minPassivePort: 0 }), RangeError);
  assert.throws(() => resolveOptions({ ...REQUIRED, implicitTlsPort: 990 }), TypeError);
  assert.throws(
    () => resolveOptions({ ...REQUIRED, maxLineBytes: 10 }),
    /"maxLineBytes" must be a whole/,
  );
  assert.throws(() => resolveOptions({ ...REQUIRED, port: "21" as unknown as number }), TypeError);
});

Deno.test("a passive address may be a function of the client's address", () => {
  const passiveAddress = () => "203.0.113.7";
  assert.equal(resolveOptions({ ...REQUIRED, passiveAddress }).passiveAddress, passiveAddress);
});

Deno.test("an empty config gives the options' defaults, and DEFAULTS come from the schema", async () => {
  const { options } = await buildOptions({}, "/tmp");
  const resolved = resolveOptions(options);
  for (const [option, value] of Object.entries(DEFAULTS)) {
    assert.equal(resolved[option as keyof typeof resolved], value, option);
    const setting = SETTINGS.find((setting) => setting.option === option)!;
    assert.equal(setting.default, value, option);
  }
  assert.equal(DEFAULTS.port, 4040);
  assert.equal(DEFAULTS.idleTimeoutMs, 300_000);
  assert.equal(DEFAULTS.maxLineBytes, 4096);
});

Deno.test("the @default of each FtpServerOptions field in its JSDoc is the schema's", async () => {
  const source = await Deno.readTextFile(new URL("../../../src/options.ts", import.meta.url));
  const documented = new Map<string, string>();
  for (const [, doc, field] of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\?:/g)) {
    const match = doc.match(/@default \{"?([^"}]*)"?\}/);
    if (match) documented.set(field, match[1]);
  }
  for (const [option, value] of Object.entries(DEFAULTS)) {
    assert.equal(documented.get(option), String(value), `@default of ${option}`);
  }
});

Deno.test("flags: each setting's flag and the CLI's own, short names included", () => {
  const flags = flagOptions();
  assert.deepEqual(flags.port, { type: "string", short: "p" });
  assert.deepEqual(flags.root, { type: "string", short: "r" });
  assert.deepEqual(flags.addr, { type: "string" });
  assert.deepEqual(flags.help, { type: "boolean", short: "h" });
  assert.deepEqual(flags.config, { type: "string", short: "c" });
  const withFlag = SETTINGS.filter((setting) => setting.flag).length;
  assert.equal(Object.keys(flags).length, withFlag + CLI_FLAGS.length);
});

Deno.test("flags override the merged config; --root is relative to the working folder", () => {
  const raw = withFlags(
    { ftp_port: 21, storage_config: { root: "data", upload_mode: "direct" }, server_name: "x" },
    { port: "2121", root: "served", "log-format": "json", help: false },
  );
  assert.deepEqual(raw, {
    ftp_port: "2121",
    server_name: "x",
    log_format: "json",
    storage_config: { root: path.resolve("served"), upload_mode: "direct" },
  });
  assert.deepEqual(withFlags({}, {}), {});
});

Deno.test("--help names every flag, YAML key and environment variable", () => {
  const help = helpText("1.2.3");
  assert.match(help, /^exftp 1\.2\.3:/);
  for (const setting of SETTINGS) {
    if (setting.key) assert.ok(help.includes(`  ${setting.key} `), setting.key);
    if (setting.flag) assert.ok(help.includes(`--${setting.flag.name} ${setting.flag.arg}`));
  }
  for (const variable of Object.keys(ENV_KEYS)) assert.ok(help.includes(variable), variable);
  for (const flag of CLI_FLAGS) assert.ok(help.includes(`--${flag.name}`), flag.name);
  assert.match(
    help,
    /-p, --port N +control port \(0 = any free port, printed at start\) \(ftp_port, default 4040\)/,
  );
});
