/**
 * Distribution: the real `deno publish` uploads the package to a local
 * JSR-compatible registry (./jsr_registry.ts, `JSR_URL`/`JSR_API_URL`), then a
 * new user's ways in are tried from empty folders with an empty `DENO_DIR`:
 * the README's `jsr:` commands exactly as written (server, client, `deno
 * install -g -n exftp`, the installed `exftp`), `hash-password`, the CLI with a
 * YAML config and a custom authenticator module, a script that imports
 * `FtpServer`, and a test that imports `runConformance` from `/testing`.
 *
 * Two things differ from a user's machine, on purpose:
 * - `--minimum-dependency-age=0` is added after `deno run`/`deno install`/`deno
 *   test`: Deno 2.9 refuses a version published less than 24 hours ago ("This
 *   version is blocked by the minimum dependency age policy"), and this one is
 *   seconds old. The README says so.
 * - npm packages come from the npm registry itself (no mirror): with the S3 SDK
 *   deferred, an empty `DENO_DIR` fetches only js-yaml and argparse (≈ 2 MB,
 *   about a second), so a shared cache would save nothing worth its code.
 *
 * @module
 */

import { spawnCollecting } from "../spawn.ts";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { Client } from "basic-ftp";
import { Readable, Writable } from "node:stream";
import { VERSION } from "../../src/version.ts";
import { readmeCommands } from "../docs/commands.ts";
import { hasCommand, randomBytes, sha256 } from "../helpers.ts";
import { S3RVER_CREDENTIALS, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { startJsrRegistry } from "./jsr_registry.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const PACKAGE = "@exftp/server";
const NO_AGE = "--minimum-dependency-age=0";
const LISTENING = /Accepting connections on (?:\[[^\]\s]*\]|[^\s:"]+):(\d+)/;
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** A process started by the test, with its output collected. */
interface Running {
  child: Deno.ChildProcess;
  output(): string;
  status: Promise<Deno.CommandStatus>;
  /** SIGTERM (or SIGINT), then the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

function spawn(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; stdin?: string },
): Running {
  const { child, output, status } = spawnCollecting(command, args, options);
  return {
    child,
    output,
    status,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const { code } = await status;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Run to the end (killed after `timeoutMs`); the exit code and all output. */
async function runToEnd(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; stdin?: string },
  timeoutMs = 120_000,
): Promise<{ code: number; output: string }> {
  const running = spawn(command, args, options);
  const timer = setTimeout(() => running.child.kill("SIGKILL"), timeoutMs);
  try {
    const { code } = await running.status;
    return { code, output: running.output() };
  } finally {
    clearTimeout(timer);
  }
}

/** Wait until a server process says where it listens; its port. */
async function listening(running: Running, what: string, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let match: RegExpExecArray | null;
  while (!(match = LISTENING.exec(running.output()))) {
    const exited = await Promise.race([
      running.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 25)),
    ]);
    if (exited || Date.now() > deadline) {
      if (!exited) running.child.kill("SIGKILL");
      await running.status;
      throw new Error(`${what} did not start serving:\n${running.output()}`);
    }
  }
  return Number(match[1]);
}

/** A real client (npm basic-ftp): list, upload random bytes, download them back. */
async function listAndTransfer(port: number, expectListed: string): Promise<void> {
  const client = new Client(10_000);
  try {
    await client.access({ host: "127.0.0.1", port, user: "me", password: "pw" });
    const names = (await client.list()).map((entry) => entry.name);
    assert.ok(names.includes(expectListed), `the listing holds ${expectListed}: ${names}`);
    const data = randomBytes(300_000);
    await client.uploadFrom(Readable.from([data]), "uploaded.bin");
    const chunks: Uint8Array[] = [];
    await client.downloadTo(
      new Writable({
        write(chunk, _encoding, done) {
          chunks.push(new Uint8Array(chunk));
          done();
        },
      }),
      "uploaded.bin",
    );
    const back = new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    assert.equal(await sha256(back), await sha256(data), "downloaded bytes equal uploaded ones");
  } finally {
    client.close();
  }
}

/** `deno run …` / `deno install …` / `deno test …` with the minimum age lifted. */
function withoutAgeLimit(line: string): string {
  return line.replace(/^deno (run|install|test)\b/, `deno $1 ${NO_AGE}`);
}

Deno.test({
  name: "published to a local JSR registry, exftp works from empty folders with an empty DENO_DIR",
  async fn(t) {
    await using registry = startJsrRegistry();
    const work = await Deno.makeTempDir({ prefix: "exftp-dist-" });
    const denoBin = dirname(Deno.execPath());
    const installRoot = join(work, "install");
    // What every consumer command sees: the local registry, an empty cache of its own.
    const env = {
      JSR_URL: registry.url,
      DENO_DIR: join(work, "deno_dir"),
      DENO_INSTALL_ROOT: installRoot,
      PATH: `${installRoot}/bin:${denoBin}:${Deno.env.get("PATH")}`,
      NO_COLOR: "1",
    };
    let folders = 0;
    /** A new empty folder to work in, as a new user would. */
    const emptyFolder = async () => {
      const dir = join(work, `user${++folders}`);
      await Deno.mkdir(dir);
      return dir;
    };
    const servers: Running[] = [];
    try {
      await t.step(
        "deno publish uploads the package; no tests, benches or fixtures in it",
        async () => {
          const published = await runToEnd(
            Deno.execPath(),
            ["publish", "--token", "x", "--no-provenance", "--allow-dirty"],
            {
              cwd: REPO,
              env: { JSR_URL: registry.url, JSR_API_URL: registry.apiUrl, NO_COLOR: "1" },
            },
          );
          assert.equal(published.code, 0, `${published.output}\n${registry.requests.join("\n")}`);
          assert.match(
            published.output,
            new RegExp(`Successfully published ${PACKAGE}@${VERSION}`),
          );
          const version = registry.published.get(`${PACKAGE}@${VERSION}`);
          assert.ok(version, `the registry holds ${PACKAGE}@${VERSION}`);
          const paths = [...version.files.keys()].sort();
          for (const path of paths) {
            assert.match(
              path,
              /^\/(README\.md|LICENSE|deno\.json|main\.ts|mod\.ts|src\/[\w/]+\.ts)$/,
            );
            assert.doesNotMatch(path, /_test\.ts$|^\/tests\/|bench|fixture|example|\.lock$/, path);
          }
          for (const expected of ["/mod.ts", "/main.ts", "/src/testing/mod.ts", "/deno.json"]) {
            assert.ok(paths.includes(expected), `${expected} is published`);
          }
          // What is served is what was uploaded: bare imports rewritten to npm: specifiers.
          const config = decode(version.files.get("/src/config/sources.ts")!);
          assert.match(config, /import\("npm:js-yaml@5\.5\.0"\)/);
        },
      );

      await t.step("the README's jsr: commands work as written", async (t) => {
        const commands = readmeCommands(await Deno.readTextFile(join(REPO, "README.md")));
        const groups = Map.groupBy(commands, (command) => command.group);
        const jsrGroups = [...groups.values()].filter((group) =>
          group.some((command) => command.text.includes(`jsr:${PACKAGE}`))
        );
        const texts = jsrGroups.flat().map((command) => command.text);
        assert.ok(texts.includes(`deno run --allow-net jsr:${PACKAGE}`), texts.join("\n"));
        assert.ok(texts.some((text) => text.startsWith("deno install -g -n exftp ")));
        let firstStart = true;
        for (const group of jsrGroups) {
          const cwd = await emptyFolder();
          const served = join(cwd, "srv-ftp"); // the README's /srv/ftp
          await Deno.mkdir(served);
          await Deno.writeTextFile(join(served, "served.txt"), "served from disk");
          const port = freePort();
          let server: Running | undefined;
          for (const { text, where } of group) {
            let line = withoutAgeLimit(text).replaceAll("/srv/ftp", served)
              .replace(/\b4040\b/g, `${port}`);
            const startsServer = /^(deno run .*jsr:|exftp )/.test(text) &&
              !/hash-password|--help|--version/.test(text);
            await t.step(`${where}: ${text}`, async () => {
              if (startsServer) {
                if (server) assert.equal(await server.stop(), 0);
                // The documented default port, made free; passive ports keep their
                // default range (no --allow-env here): busy ones are skipped.
                if (!/--port/.test(line)) line += ` --port ${port}`;
                const started = Date.now();
                server = spawn("sh", ["-c", `exec ${line}`], { cwd, env });
                servers.push(server);
                const actual = await listening(server, line);
                assert.equal(actual, port);
                if (firstStart) {
                  firstStart = false;
                  const npm = join(env.DENO_DIR, "npm", "registry.npmjs.org");
                  const fetched = [...Deno.readDirSync(npm)].map((entry) => entry.name).sort();
                  console.log(
                    `first start with an empty DENO_DIR: ${Date.now() - started} ms; ` +
                      `npm packages fetched: ${fetched.join(", ")}`,
                  );
                  assert.ok(!fetched.includes("@aws-sdk"), "the S3 SDK waits for an S3 start");
                }
                if (/--root/.test(text)) {
                  assert.doesNotMatch(server.output(), /in-memory/);
                  await listAndTransfer(port, "served.txt");
                  assert.equal((await Deno.stat(join(served, "uploaded.bin"))).size, 300_000);
                } else {
                  assert.match(
                    server.output(),
                    /^Serving an in-memory folder .* To serve a folder: deno run --allow-net=127\.0\.0\.1 --allow-read=DIR --allow-write=DIR jsr:@exftp\/server --root DIR$/m,
                  );
                  await listAndTransfer(port, "README.txt");
                }
              } else if (/^curl /.test(text)) {
                assert.ok(server, "a client command needs the server before it");
                if (!hasCommand("curl")) return;
                const result = await runToEnd("sh", ["-c", line], { cwd, env });
                assert.equal(result.code, 0, result.output);
                assert.match(result.output, /This folder lives in exftp's memory/);
              } else if (/^deno install /.test(text)) {
                const result = await runToEnd("sh", ["-c", line], { cwd, env });
                assert.equal(result.code, 0, result.output);
                const shim = await Deno.readTextFile(join(installRoot, "bin", "exftp"));
                assert.match(shim, /jsr:@exftp\/server/);
              } else {
                throw new Error(`${where}: the test doesn't know how to run ${text}`);
              }
            });
          }
          if (server) assert.equal(await server.stop(), 0);
        }
      });

      await t.step("--help from JSR shows the jsr: command and the installed one", async () => {
        const help = await runToEnd(
          Deno.execPath(),
          ["run", NO_AGE, `jsr:${PACKAGE}`, "--help"],
          { cwd: await emptyFolder(), env },
        );
        assert.equal(help.code, 0, help.output);
        assert.match(help.output, /^ {2}deno run --allow-net jsr:@exftp\/server \[options\]/m);
        assert.match(help.output, /deno install -g -n exftp/);
        assert.doesNotMatch(help.output, /main\.ts/);
      });

      await t.step("hash-password works from JSR", async () => {
        const hashed = await runToEnd(
          Deno.execPath(),
          ["run", NO_AGE, `jsr:${PACKAGE}`, "hash-password", "--iterations", "5000"],
          { cwd: await emptyFolder(), env, stdin: "from jsr\n" },
        );
        assert.equal(hashed.code, 0, hashed.output);
        assert.match(hashed.output, /^pbkdf2-sha256\$5000\$\S+\$\S+$/m);
      });

      await t.step(
        "the CLI from JSR with a YAML config and a custom authenticator module",
        async () => {
          const cwd = await emptyFolder();
          await Deno.mkdir(join(cwd, "files"));
          await Deno.writeTextFile(join(cwd, "files", "report.txt"), "for alice");
          // A user's authenticator imports from the package too.
          await Deno.writeTextFile(
            join(cwd, "auth.ts"),
            `import { type Authenticator, verifyPassword } from "jsr:${PACKAGE}";\n` +
              `const alice = "${await hashPasswordHere("s3cret")}";\n` +
              `export default {\n` +
              `  async authenticate({ username, password }) {\n` +
              `    return username === "alice" && await verifyPassword(password, alice)\n` +
              `      ? { username } : null;\n` +
              `  },\n` +
              `} satisfies Authenticator;\n`,
          );
          await Deno.writeTextFile(
            join(cwd, "exftp.yaml"),
            "ftp_port: 0\nmin_passive_port: 0\nmax_passive_port: 0\nlogin_failure_delay_ms: 1\n" +
              "authenticator: ./auth.ts\nstorage_config:\n  root: ./files\n",
          );
          const server = spawn(
            Deno.execPath(),
            [
              "run",
              NO_AGE,
              "--allow-net=127.0.0.1",
              `--allow-read=${cwd}`,
              `--allow-write=${join(cwd, "files")}`,
              `jsr:${PACKAGE}`,
              "--config",
              "exftp.yaml",
            ],
            { cwd, env },
          );
          servers.push(server);
          const port = await listening(server, "the CLI with exftp.yaml");
          const refused = new Client(10_000);
          await assert.rejects(
            refused.access({ host: "127.0.0.1", port, user: "alice", password: "wrong" }),
            /530/,
          );
          refused.close();
          const client = new Client(10_000);
          try {
            await client.access({ host: "127.0.0.1", port, user: "alice", password: "s3cret" });
            assert.deepEqual((await client.list()).map((entry) => entry.name), ["report.txt"]);
          } finally {
            client.close();
          }
          assert.equal(await server.stop(), 0);
        },
      );

      await t.step("a script imports FtpServer from jsr:@exftp/server and serves", async () => {
        const cwd = await emptyFolder();
        await Deno.writeTextFile(
          join(cwd, "serve.ts"),
          `import { FtpServer, MemoryStorage, PassthroughAuthenticator } from "jsr:${PACKAGE}";\n` +
            `const storage = new MemoryStorage();\n` +
            `await storage.write("/hello.txt", ReadableStream.from([new TextEncoder().encode("hi")]));\n` +
            `const authenticator = new PassthroughAuthenticator();\n` +
            `const server = new FtpServer({ port: 0, minPassivePort: 0, maxPassivePort: 0, authenticator, storage });\n` +
            `const { hostname, port } = await server.listen();\n` +
            `console.log(\`Accepting connections on \${hostname}:\${port}\`);\n` +
            `Deno.addSignalListener("SIGTERM", () => server.close().then(() => Deno.exit(0)));\n`,
        );
        const server = spawn(
          Deno.execPath(),
          ["run", NO_AGE, "--allow-net=127.0.0.1", "serve.ts"],
          { cwd, env },
        );
        servers.push(server);
        const port = await listening(server, "serve.ts");
        await listAndTransfer(port, "hello.txt");
        assert.equal(await server.stop(), 0);
      });

      await t.step("importing the package (either entry point) never starts the CLI", async () => {
        const cwd = await emptyFolder();
        await Deno.writeTextFile(
          join(cwd, "import_only.ts"),
          `import * as exftp from "jsr:${PACKAGE}";\n` +
            `import * as testing from "jsr:${PACKAGE}/testing";\n` +
            `console.log("exports", typeof exftp.FtpServer, typeof testing.runConformance);\n`,
        );
        // No permissions at all: a CLI start would fail asking for them.
        const result = await runToEnd(
          Deno.execPath(),
          ["run", NO_AGE, "import_only.ts", "--port", "0"],
          { cwd, env },
        );
        assert.equal(result.code, 0, result.output);
        assert.match(result.output, /^exports function function$/m);
        assert.doesNotMatch(result.output, /Accepting|missing Deno permission|in-memory/);
      });

      await t.step("after its first start, exftp starts offline (--cached-only)", async () => {
        const server = spawn(
          Deno.execPath(),
          [
            "run",
            NO_AGE,
            "--cached-only",
            "--allow-net=127.0.0.1",
            `jsr:${PACKAGE}`,
            "--port",
            "0",
          ],
          { cwd: await emptyFolder(), env },
        );
        servers.push(server);
        await listAndTransfer(await listening(server, "the offline start"), "README.txt");
        assert.equal(await server.stop(), 0);
      });

      await t.step(
        "the systemd recipe's ExecStart serves its exftp.yaml and users file",
        async () => {
          // examples/exftp.service, with its folders moved under a temporary one; the
          // served folder is reached through a symlink, as DynamicUser= arranges it.
          const unit = await Deno.readTextFile(join(REPO, "examples", "exftp.service"));
          const base = await emptyFolder();
          const paths: [string, string][] = [
            ["/var/lib/private/exftp", join(base, "var/lib/private/exftp")],
            ["/var/lib/exftp", join(base, "var/lib/exftp")],
            ["/etc/exftp", join(base, "etc/exftp")],
          ];
          const move = (text: string) =>
            paths.reduce((out, [from, to]) => out.replaceAll(from, to), text);
          await Deno.mkdir(paths[0][1], { recursive: true });
          await Deno.mkdir(paths[2][1], { recursive: true });
          await Deno.symlink(paths[0][1], paths[1][1]);
          await Deno.writeTextFile(join(paths[0][1], "served.txt"), "served by the service");
          const yaml = /^# --- \/etc\/exftp\/exftp\.yaml ---\n((?:#.*\n)*?)# ---$/m.exec(unit);
          assert.ok(yaml, "the unit's header shows exftp.yaml");
          const config = move(yaml[1].replace(/^# ?/gm, ""))
            .replace(/^ftp_port: \d+$/m, "ftp_port: 0")
            .replace(/^ftp_addr: .*$/m, "ftp_addr: 127.0.0.1")
            .replace(/^(min|max)_passive_port: \d+$/gm, "$1_passive_port: 0");
          await Deno.writeTextFile(join(paths[2][1], "exftp.yaml"), config);
          await Deno.writeTextFile(
            join(paths[2][1], "users.yaml"),
            `- username: me\n  password_hash: "${await hashPasswordHere("pw")}"\n`,
          );
          const execStart = /^ExecStart=(.*)$/m.exec(unit)![1];
          const line = withoutAgeLimit(move(execStart).replace(/^\/usr\/bin\/deno /, "deno "));
          const server = spawn("sh", ["-c", `exec ${line}`], { cwd: base, env });
          servers.push(server);
          await listAndTransfer(await listening(server, execStart), "served.txt");
          assert.equal((await Deno.stat(join(paths[0][1], "uploaded.bin"))).size, 300_000);
          assert.equal(await server.stop(), 0, server.output());
        },
      );

      const s3Unavailable = s3rverUnavailable();
      await t.step({
        name: `an S3 server from JSR fetches the AWS SDK at its first start, then starts offline${
          s3Unavailable ? ` (ignored: ${s3Unavailable})` : ""
        }`,
        ignore: s3Unavailable !== undefined,
        fn: async () => {
          await using s3 = await startS3rver("ftp");
          const cwd = await emptyFolder();
          await Deno.writeTextFile(
            join(cwd, "s3.yaml"),
            "ftp_port: 0\nmin_passive_port: 0\nmax_passive_port: 0\nstorage_connector: s3\n" +
              `storage_config:\n  bucket: ftp\n  endpoint: ${s3.endpoint}\n  region: us-east-1\n` +
              `  access_key_id: ${S3RVER_CREDENTIALS.accessKeyId}\n` +
              `  secret_access_key: ${S3RVER_CREDENTIALS.secretAccessKey}\n`,
          );
          for (const offline of [false, true]) {
            const server = spawn(
              Deno.execPath(),
              [
                "run",
                NO_AGE,
                ...(offline ? ["--cached-only"] : []),
                "--allow-net",
                "--allow-env",
                "--allow-read",
                "--allow-sys=osRelease",
                `jsr:${PACKAGE}`,
                "--config",
                "s3.yaml",
              ],
              { cwd, env },
            );
            servers.push(server);
            const port = await listening(server, `the S3 server${offline ? " (offline)" : ""}`);
            const client = new Client(10_000);
            try {
              await client.access({ host: "127.0.0.1", port, user: "me", password: "pw" });
              const data = new TextEncoder().encode(offline ? "offline" : "online");
              await client.uploadFrom(Readable.from([data]), `${offline}.txt`);
              const names = (await client.list()).map((entry) => entry.name).sort();
              assert.deepEqual(names, offline ? ["false.txt", "true.txt"] : ["false.txt"]);
            } finally {
              client.close();
            }
            assert.equal(await server.stop(), 0, server.output());
          }
          const npm = join(env.DENO_DIR, "npm", "registry.npmjs.org");
          assert.ok(Deno.statSync(join(npm, "@aws-sdk", "client-s3")).isDirectory);
        },
      });

      await t.step("a test imports runConformance from jsr:@exftp/server/testing", async () => {
        const cwd = await emptyFolder();
        await Deno.writeTextFile(
          join(cwd, "memory_test.ts"),
          `import { MemoryStorage } from "jsr:${PACKAGE}";\n` +
            `import { runConformance } from "jsr:${PACKAGE}/testing";\n` +
            `runConformance("MemoryStorage from JSR passes", async () => ({\n` +
            `  connector: new MemoryStorage(),\n` +
            `  cleanup() {},\n` +
            `}));\n`,
        );
        const result = await runToEnd(
          Deno.execPath(),
          ["test", NO_AGE, "memory_test.ts"],
          { cwd, env },
        );
        assert.equal(result.code, 0, result.output);
        assert.match(result.output, /MemoryStorage from JSR passes \.\.\. ok/);
        assert.match(result.output, /ok \| 1 passed/);
      });
    } finally {
      await Promise.all(servers.map((server) => server.stop("SIGKILL")));
      await Deno.remove(work, { recursive: true });
    }
  },
});

/** A users_file hash made with this checkout (the package's verifyPassword must accept it). */
async function hashPasswordHere(password: string): Promise<string> {
  const { hashPassword } = await import("../../src/auth/password_hash.ts");
  return await hashPassword(password, { iterations: 5000 });
}
