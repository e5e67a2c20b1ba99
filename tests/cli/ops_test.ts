/**
 * The CLI as an operator meets it: signals, listen errors, IPv6, warnings,
 * JSON log lines, paths in the config file, symlinked roots.
 */

import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { hashPassword } from "../../src/auth/password_hash.ts";
import { startCli } from "../cli_process.ts";
import { hasCommand } from "../helpers.ts";
import { run as runClient } from "../integration/_clients.ts";
import { testCertificates } from "../tls_fixture.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Run the CLI to its end (it must stop by itself within `timeoutMs`). */
async function run(
  args: string[],
  permissions: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, ...args],
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  try {
    const output = await child.output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

const PASSIVE_ANY = { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" };

function leastPrivilege(root: string, host = "127.0.0.1"): string[] {
  return [
    `--allow-net=${host}`,
    `--allow-read=${root}`,
    `--allow-write=${root}`,
    "--allow-env=MIN_PASSIVE_PORT,MAX_PASSIVE_PORT",
  ];
}

function ipv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    if (Deno.env.get("CI") === "true") throw new Error("IPv6 loopback (::1) is required under CI");
    console.warn("ignored: IPv6 tests: no ::1 here");
    return false;
  }
}

Deno.test("SIGHUP during an upload: nothing to reload is logged, the upload completes, the process lives", async () => {
  const root = await Deno.makeTempDir();
  try {
    const cli = await startCli(["--root", root, "--port", "0"], {
      permissions: leastPrivilege(root),
      env: PASSIVE_ANY,
    });
    try {
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("user", "pw");
      await client.send("TYPE I");
      const data = await client.passive();
      assert.equal((await client.send("STOR during-hup.bin")).code, 150);
      await data.write(new Uint8Array(1000));
      cli.child.kill("SIGHUP");
      await cli.waitForOutput(/SIGHUP: nothing to reload/);
      await data.write(new Uint8Array(1000));
      data.close();
      assert.equal((await client.read()).code, 226);
      assert.equal((await client.send("NOOP")).code, 200);
      assert.equal((await Deno.stat(`${root}/during-hup.bin`)).size, 2000);
      // A second connection after the signal: still serving.
      using again = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      assert.equal((await again.send("NOOP")).code, 200);
    } finally {
      const { code } = await cli.stop();
      assert.equal(code, 0);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SIGHUP reloads the users_file and the TLS certificate and says so", async () => {
  const dir = await Deno.makeTempDir();
  const certs = await testCertificates();
  try {
    await Deno.mkdir(`${dir}/files`);
    const bob = await hashPassword("bobpw", { iterations: 5000 });
    await Deno.writeTextFile(
      `${dir}/users.yaml`,
      `- username: alice\n  password_hash: "${await hashPassword("alicepw", {
        iterations: 5000,
      })}"\n`,
    );
    await Deno.writeTextFile(
      `${dir}/exftp.yaml`,
      `ftp_port: 0\nauthenticator: users_file\nauthenticator_config:\n  path: users.yaml\n` +
        `storage_config:\n  root: files\nlogin_failure_delay_ms: 0\n` +
        `tls:\n  cert: ${certs.certFile}\n  key: ${certs.keyFile}\n  require_tls_for_login: false\n`,
    );
    const cli = await startCli(["--config", `${dir}/exftp.yaml`], { permissions: ["-A"] });
    try {
      await Deno.writeTextFile(
        `${dir}/users.yaml`,
        `- username: bob\n  password_hash: "${bob}"\n`,
        {
          append: true,
        },
      );
      cli.child.kill("SIGHUP");
      await cli.waitForOutput(/SIGHUP: reloaded users_file, tls/);
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("bob", "bobpw"); // throws unless 230
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a busy port is reported under its own key: ftp_port, ftps_port, metrics_port", async () => {
  const dir = await Deno.makeTempDir();
  const certs = await testCertificates();
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    const tls = `tls:\n  cert: ${certs.certFile}\n  key: ${certs.keyFile}\n`;
    const cases: [string, RegExp][] = [
      [
        `ftp_port: ${port}\n`,
        new RegExp(`127\\.0\\.0\\.1:${port} is already in use \\(set ftp_port`),
      ],
      [
        `ftp_port: 0\nftps_port: ${port}\n${tls}`,
        new RegExp(`127\\.0\\.0\\.1:${port} is already in use \\(set ftps_port\\)`),
      ],
      [
        `ftp_port: 0\nmetrics_port: ${port}\n`,
        new RegExp(`127\\.0\\.0\\.1:${port} is already in use \\(set metrics_port`),
      ],
    ];
    for (const [yaml, expected] of cases) {
      await Deno.writeTextFile(`${dir}/c.yaml`, `${yaml}storage_config:\n  root: ${dir}\n`);
      const result = await run(["--config", `${dir}/c.yaml`], ["-A"]);
      assert.equal(result.code, 1, yaml + result.stderr);
      assert.match(result.stderr, expected);
      if (!yaml.startsWith("ftp_port: 0")) continue;
      assert.doesNotMatch(result.stderr, /set ftp_port/, "the control port was free");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "IPv6: --addr ::1 names --allow-net=[::1]; under it, curl -g passive and active work",
  ignore: !ipv6Loopback(),
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const refused = await run(["--root", root, "--addr", "::1", "--port", "0"], [
        "--allow-net=127.0.0.1",
        `--allow-read=${root}`,
        `--allow-write=${root}`,
      ]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.equal(
        refused.stderr.trim(),
        "exftp: missing Deno permissions; run again with --allow-net=[::1]",
      );
      if (!hasCommand("curl")) return;
      await Deno.writeTextFile(`${root}/down.txt`, "over ipv6");
      const cli = await startCli(["--root", root, "--addr", "::1", "--port", "0"], {
        permissions: leastPrivilege(root, "[::1]"),
        env: PASSIVE_ANY,
      });
      try {
        assert.match(cli.seen, /Accepting connections on \[::1\]:\d+/);
        const url = `ftp://u:p@[::1]:${cli.port}`;
        const epsv = await runClient("curl", ["-sS", "-g", "-v", `${url}/down.txt`], {
          timeoutMs: 20_000,
        });
        assert.equal(epsv.stdout, "over ipv6", epsv.stderr);
        assert.match(epsv.stderr, /EPSV/);
        const eprt = await runClient(
          "curl",
          ["-sS", "-g", "-v", "-P", "-", "-T", "-", `${url}/up.txt`],
          { stdin: "active over ipv6", timeoutMs: 20_000 },
        );
        assert.equal(eprt.code, 0, eprt.stderr);
        assert.match(eprt.stderr, /EPRT \|2\|::1\|/);
        assert.equal(await Deno.readTextFile(`${root}/up.txt`), "active over ipv6");
      } finally {
        assert.equal((await cli.stop()).code, 0);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("an open authenticator beyond loopback warns at start; on loopback it does not", async () => {
  const root = await Deno.makeTempDir();
  try {
    const open = await startCli(["--root", root, "--port", "0", "--addr", "0.0.0.0"], {
      permissions: ["-A"],
    });
    const openLog = (await open.stop()).stderr;
    assert.match(openLog, /WARN Anyone can log in and change files: authenticator passthrough/);
    const local = await startCli(["--root", root, "--port", "0"], { permissions: ["-A"] });
    assert.doesNotMatch((await local.stop()).stderr, /Anyone can log in/);
    await Deno.writeTextFile(`${root}/c.yaml`, "authenticator: no_auth\nftp_addr: 0.0.0.0\n");
    const noAuth = await startCli(["--config", `${root}/c.yaml`, "--root", root, "--port", "0"], {
      permissions: ["-A"],
    });
    assert.match(
      (await noAuth.stop()).stderr,
      /Anyone can log in and change files: authenticator no_auth/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("JSON log mode: start, reload and stop lines are JSON too", async () => {
  const root = await Deno.makeTempDir();
  try {
    const cli = await startCli(["--root", root, "--port", "0", "--log-format", "json"], {
      permissions: ["-A"],
    });
    cli.child.kill("SIGHUP");
    await cli.waitForOutput(/SIGHUP/);
    const { code, stderr } = await cli.stop();
    assert.equal(code, 0);
    const lines = (cli.stdout() + stderr).split("\n").filter((line) => line.trim() !== "");
    for (const line of lines) {
      assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    }
    const messages = lines.map((line) => JSON.parse(line).message as string);
    assert.ok(messages.some((m) => /^Accepting connections on 127\.0\.0\.1:\d+$/.test(m)));
    assert.ok(messages.includes("SIGHUP: nothing to reload (no users_file, no tls)"));
    assert.ok(messages.includes("Shutting down…"));
    assert.ok(messages.includes("Stopped"));
    const start = JSON.parse(lines.find((l) => l.includes("Accepting connections"))!);
    assert.equal(start.port, cli.port);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("storage_config.root is resolved from the config file's folder; --root from the working folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/conf/data`, { recursive: true });
    await Deno.mkdir(`${dir}/elsewhere/mine`, { recursive: true });
    await Deno.writeTextFile(`${dir}/conf/data/in-conf.txt`, "from the config's folder");
    await Deno.writeTextFile(`${dir}/elsewhere/mine/in-cwd.txt`, "from the working folder");
    await Deno.writeTextFile(`${dir}/conf/exftp.yaml`, "storage_config:\n  root: data\n");
    const permissions = ["--allow-net=127.0.0.1", `--allow-read=${dir}`, `--allow-write=${dir}`];
    for (
      const [args, expected] of [
        [["--config", "../conf/exftp.yaml"], "in-conf.txt"],
        [["--config", "../conf/exftp.yaml", "--root", "mine"], "in-cwd.txt"],
      ] as const
    ) {
      const cli = await startCli([...args, "--port", "0"], {
        permissions: [...permissions, "--allow-env"],
        env: PASSIVE_ANY,
        cwd: `${dir}/elsewhere`,
      });
      try {
        using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
        await client.login("user", "pw");
        const { data } = await client.download("NLST");
        assert.deepEqual(decoder.decode(data).trim().split(/\r?\n/), [expected]);
      } finally {
        assert.equal((await cli.stop()).code, 0);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a symlinked root: the real folder's flags are named, and with them it serves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/real`);
    await Deno.writeTextFile(`${dir}/real/file.txt`, "through the link");
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    const link = `${dir}/link`;
    const real = await Deno.realPath(`${dir}/real`);
    const refused = await run(["--root", link, "--port", "0"], [
      "--allow-net=127.0.0.1",
      `--allow-read=${link}`,
      `--allow-write=${link}`,
    ]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr.trim(),
      `exftp: missing Deno permissions; run again with --allow-read=${real} --allow-write=${real}`,
    );
    const cli = await startCli(["--root", link, "--port", "0"], {
      permissions: [
        ...leastPrivilege(link),
        `--allow-read=${link},${real}`,
        `--allow-write=${link},${real}`,
      ],
      env: PASSIVE_ANY,
    });
    try {
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("user", "pw");
      await client.send("TYPE I");
      const { data } = await client.download("RETR file.txt");
      assert.equal(decoder.decode(data), "through the link");
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a wildcard address (::) needs a plain --allow-net, and then serves IPv4 and IPv6 clients",
  ignore: !ipv6Loopback() || !hasCommand("curl"),
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const refused = await run(["--root", root, "--addr", "::", "--port", "0"], [
        "--allow-net=[::]",
        `--allow-read=${root}`,
        `--allow-write=${root}`,
      ]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.equal(
        refused.stderr.trim(),
        "exftp: missing Deno permissions; run again with --allow-net",
      );
      await Deno.writeTextFile(`${root}/down.txt`, "everywhere");
      const cli = await startCli(["--root", root, "--addr", "::", "--port", "0"], {
        permissions: ["--allow-net", ...leastPrivilege(root).slice(1)],
        env: PASSIVE_ANY,
      });
      try {
        for (const host of ["127.0.0.1", "[::1]"]) {
          const result = await runClient(
            "curl",
            ["-sS", "-g", `ftp://u:p@${host}:${cli.port}/down.txt`],
            { timeoutMs: 20_000 },
          );
          assert.equal(result.stdout, "everywhere", `${host}: ${result.stderr}`);
        }
      } finally {
        assert.equal((await cli.stop()).code, 0);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
