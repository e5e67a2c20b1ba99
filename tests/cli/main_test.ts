import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { VERSION } from "../../src/version.ts";
import { startCli } from "../cli_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function run(args: string[], permissions: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Start the CLI with these permissions and env; wait until it listens. */
function start(args: string[], permissions: string[], env: Record<string, string> = {}) {
  return startCli(args, { permissions, env });
}

Deno.test("--version and --help", async () => {
  const version = await run(["--version"], []);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), `exftp ${VERSION}`);
  const help = await run(["--help"], []);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--root DIR/);
  const unknown = await run(["--bogus"], []);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /bogus/);
});

Deno.test("version in deno.json and src/version.ts agree", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(config.version, VERSION);
});

Deno.test("a bad config value stops start-up with one line naming the key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, RegExp][] = [
      ["ftp_port: 70000\n", /^exftp: config: ftp_port: must be a whole number from 0 to 65535/],
      ["ftp_port: abc\n", /^exftp: config: ftp_port: /],
      ["min_passive_port: 5000\nmax_passive_port: 4000\n", /^exftp: config: min_passive_port:/],
      ["authenticator: magic\n", /^exftp: config: authenticator: unknown authenticator "magic"/],
      ["storage_connector: tape\n", /^exftp: config: storage_connector: unknown/],
      ["ftp_prot: 21\n", /^exftp: config: ftp_prot: unknown key/],
      ["idle_timeout_s: -1\n", /^exftp: config: idle_timeout_s: /],
      ["upload_mode: yolo\n", /^exftp: config: upload_mode: /],
      ["ftp_port: [\n", /not valid YAML/],
      ["- a\n- b\n", /must be a mapping/],
    ];
    for (const [yaml, expected] of cases) {
      await Deno.writeTextFile(`${dir}/c.yaml`, yaml);
      const result = await run(["--config", `${dir}/c.yaml`], ["--allow-read"]);
      assert.equal(result.code, 2, yaml);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line for ${yaml}: ${result.stderr}`);
      assert.match(lines[0], expected);
    }
    const port = await run(["--port", "99999"], []);
    assert.match(port.stderr, /^exftp: config: ftp_port: /);
    const missing = await run(["--config", `${dir}/none.yaml`], ["--allow-read"]);
    assert.match(missing.stderr, /^exftp: config: --config: can't read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("missing permissions are named as flags to add", async () => {
  const root = await Deno.makeTempDir();
  try {
    const result = await run(["--root", root, "--port", "0"], []);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      `exftp: missing Deno permissions; run again with --allow-net=127.0.0.1 --allow-read=${root} --allow-write=${root}`,
    );
    const onlyWrite = await run(["--root", root, "--port", "0"], [
      "--allow-net=127.0.0.1",
      `--allow-read=${root}`,
    ]);
    assert.match(onlyWrite.stderr, new RegExp(`--allow-write=${root}$`, "m"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("serves under least privilege from a YAML config; flags > env > file; SIGTERM exits 0", async () => {
  const dir = await Deno.makeTempDir();
  const root = `${dir}/root`;
  await Deno.mkdir(root);
  await Deno.writeTextFile(`${root}/hello.txt`, "hello");
  await Deno.writeTextFile(
    `${dir}/exftp.yaml`,
    `ftp_port: 1\nserver_name: from-file\nmin_passive_port: 0\nmax_passive_port: 0\n` +
      `storage_config:\n  root: ${root}\n`,
  );
  try {
    const cli = await start(
      ["--config", `${dir}/exftp.yaml`, "--port", "0"],
      [
        "--allow-net=127.0.0.1",
        `--allow-read=${dir}`,
        `--allow-write=${root}`,
        "--allow-env=FTP_SERVER_NAME,FTP_PORT",
      ],
      { FTP_SERVER_NAME: "from-env", FTP_PORT: "2" },
    );
    try {
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      assert.equal(client.greeting.text, "Hello from from-env.");
      await client.login("user", "pw");
      await client.send("TYPE I");
      const { data } = await client.download("RETR hello.txt");
      assert.equal(new TextDecoder().decode(data), "hello");
      const upload = await client.upload("STOR up.txt", new TextEncoder().encode("up"));
      assert.equal(upload.at(-1)?.code, 226);
      assert.equal(await Deno.readTextFile(`${root}/up.txt`), "up");
    } finally {
      cli.child.kill("SIGTERM");
    }
    const status = await cli.child.status;
    assert.equal(status.code, 0);
    await cli.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM lets a running upload finish before exiting", async () => {
  const root = await Deno.makeTempDir();
  try {
    const cli = await start(
      ["--root", root, "--port", "0"],
      [
        "--allow-net=127.0.0.1",
        `--allow-read=${root}`,
        `--allow-write=${root}`,
        "--allow-env=MIN_PASSIVE_PORT,MAX_PASSIVE_PORT",
      ],
      { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" },
    );
    using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
    await client.login("user", "pw");
    await client.send("TYPE I");
    const data = await client.passive();
    assert.equal((await client.send("STOR late.bin")).code, 150);
    await data.write(new Uint8Array(1000));
    cli.child.kill("SIGTERM");
    // The upload goes on after the signal (give the signal time to arrive first).
    await new Promise((r) => setTimeout(r, 200));
    await data.write(new Uint8Array(1000));
    data.close();
    assert.equal((await client.read()).code, 226);
    assert.equal((await client.read()).code, 421);
    assert.equal((await cli.child.status).code, 0);
    assert.equal((await Deno.stat(`${root}/late.bin`)).size, 2000);
    await cli.stop();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
