/**
 * Docs as tests: every shell command shown in README.md (fenced `sh`/`bash`
 * blocks) and in the headers of `examples/` is run, in a copy of the
 * repository in a temporary folder, with documented ports replaced by free
 * ones and documented folders by temporary ones, and must do what the text
 * says:
 *
 * - a command that starts a server (main.ts, the bundle, an example) must print
 *   that it accepts connections, greet an FTP client with 220, serve the
 *   client commands that follow it in the same block, and exit 0 on SIGINT;
 * - `hash-password` must print a PBKDF2 hash;
 * - any other command must exit 0 (and do what its check below says).
 *
 * A command that can't run here is listed in {@linkcode NOT_RUN} with the
 * reason. A command that is neither runnable nor listed fails the test, and
 * so does a listed command that the docs no longer show.
 */

import { type CollectedProcess, spawnCollecting } from "../spawn.ts";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { hasCommand } from "../helpers.ts";
import { S3RVER_CREDENTIALS, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import {
  type DocCommand,
  exampleHeaderCommands,
  readmeCommands,
  yamlHeaderCommands,
} from "./commands.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** Commands shown in the docs that this test does not run, and why. */
const NOT_RUN: Record<string, string> = {
  ...Object.fromEntries(
    [
      "deno run --allow-net jsr:@exftp/server",
      "curl ftp://me:pw@127.0.0.1:4040/README.txt",
      "deno run --allow-net=127.0.0.1 --allow-read=/srv/ftp --allow-write=/srv/ftp jsr:@exftp/server --root /srv/ftp",
      "deno install -g -n exftp --allow-net=127.0.0.1 --allow-read=/srv/ftp --allow-write=/srv/ftp jsr:@exftp/server",
      "exftp --root /srv/ftp",
    ].map((command) => [
      command,
      "jsr: is not reachable here; tests/dist/publish_test.ts runs it as written against a local JSR registry",
    ]),
  ),
  "deno task test": "runs the whole test suite, this test included; CI runs exactly this command",
  "deno task ok":
    "the whole gate (fmt, lint, check, doc lint, publish dry run, every test); CI runs it in parts",
  "deno task bench": "a benchmark of minutes against vsftpd and pyftpdlib, not a test",
  "deno task bench:concurrency": "a benchmark of minutes against pyftpdlib and vsftpd, not a test",
  "deno task fuzz": "the 200000-iteration fuzz run; the test suite runs the short one",
  "deno run -A bench/ftps.ts": "a benchmark, not a test",
  "deno run -A bench/s3_upload.ts": "a benchmark, not a test",
  "deno run -A bench/soak.ts": "a soak run of about ten minutes, not a test",
  "deno task compile":
    "deno compile downloads the denort runtime, which no reachable registry ships (PLATFORM.md); the bundle is run instead",
  "docker run -p 9000:9000 minio/minio server /data":
    "needs Docker and the MinIO image; the example runs against s3rver instead",
  "mc alias set local http://localhost:9000 minioadmin minioadmin && mc mb local/ftp":
    "the MinIO client; s3rver creates the bucket instead",
};

/** Commands that need s3rver (and are ignored, with a reason, where it can't run). */
const NEEDS_S3 = /s3\.yaml|s3_minio\.ts/;
/** Client commands, run against the server started before them in the same block. */
const CLIENT = /^(curl|lftp|python3)\b/;
/** Commands that start a server: main.ts, the bundle, an example program, `deno task start`. */
function startsServer(text: string): boolean {
  if (/hash-password|--help|--version|\|/.test(text)) return false;
  return /\b(main\.ts|exftp\.js)\b|examples\/\w+\.ts\b|^(\w+=\S+\s+)*deno task start\b/.test(text);
}

async function docCommands(): Promise<DocCommand[]> {
  const commands = readmeCommands(await Deno.readTextFile(join(REPO, "README.md")));
  const examples = [...Deno.readDirSync(join(REPO, "examples"))].map((entry) => entry.name).sort();
  for (const name of examples) {
    const text = await Deno.readTextFile(join(REPO, "examples", name));
    const file = `examples/${name}`;
    if (name.endsWith(".ts")) commands.push(...exampleHeaderCommands(text, file));
    if (name.endsWith(".yaml")) commands.push(...yamlHeaderCommands(text, file));
  }
  return commands;
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** A copy of what the commands use, with documented ports and endpoints substituted. */
interface Sandbox {
  dir: string;
  /** Documented port → free port. */
  ports: Map<number, number>;
  /** Documented folder → temporary folder. */
  folders: Map<string, string>;
  endpoint?: string;
}

const DOCUMENTED_PORTS = [4040, 2121, 8081];

function substitute(text: string, sandbox: Sandbox): string {
  let out = text;
  for (const [from, to] of sandbox.ports) {
    out = out.replace(new RegExp(`\\b${from}\\b`, "g"), `${to}`);
  }
  for (const [from, to] of sandbox.folders) out = out.replaceAll(from, to);
  if (sandbox.endpoint) {
    out = out.replaceAll("http://localhost:9000", sandbox.endpoint)
      .replaceAll("minioadmin", S3RVER_CREDENTIALS.accessKeyId);
  }
  return out;
}

async function makeSandbox(endpoint?: string): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "exftp-docs-" });
  const sandbox: Sandbox = {
    dir,
    ports: new Map(DOCUMENTED_PORTS.map((port) => [port, freePort()])),
    folders: new Map([["/srv/ftp", join(dir, "srv-ftp")]]),
    endpoint,
  };
  await Deno.mkdir(join(dir, "srv-ftp"));
  await Deno.writeTextFile(join(dir, "srv-ftp", "served.txt"), "served by the docs test");
  const copy = await new Deno.Command("cp", {
    args: ["-r", "main.ts", "mod.ts", "deno.json", "deno.lock", "src", "examples", dir],
    cwd: REPO,
  }).output();
  assert.ok(copy.success, "copying the repository");
  // The examples hold their ports in code: substitute there too, and give them
  // any free passive port (parallel tests must not share the default range).
  for (const entry of Deno.readDirSync(join(dir, "examples"))) {
    const file = join(dir, "examples", entry.name);
    let text = substitute(await Deno.readTextFile(file), sandbox);
    text = text.replace(
      /^(\s*)port: (\d+),$/m,
      "$1port: $2,\n$1minPassivePort: 0,\n$1maxPassivePort: 0,",
    );
    await Deno.writeTextFile(file, text);
  }
  return sandbox;
}

type Running = CollectedProcess;

/** `sh -c` in the sandbox, with this `deno` first on the PATH. */
function spawn(
  command: string,
  sandbox: Sandbox,
  env: Record<string, string>,
  stdin?: string,
): Running {
  return spawnCollecting("sh", ["-c", command], {
    cwd: sandbox.dir,
    env: {
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH")}`,
      NO_COLOR: "1",
      ...env,
    },
    stdin,
  });
}

async function runToEnd(
  command: string,
  sandbox: Sandbox,
  env: Record<string, string> = {},
  stdin?: string,
) {
  const running = spawn(command, sandbox, env, stdin);
  const timer = setTimeout(() => running.child.kill("SIGKILL"), 60_000);
  try {
    const { code } = await running.status;
    return { code, output: running.output() };
  } finally {
    clearTimeout(timer);
  }
}

const LISTENING = /(?:Accepting connections on|FTP on) (\[[^\]]*\]|[^\s:;,]+):(\d+)/;

/** What a client command of the docs must print: a listing of the served folder. */
function clientCheck(text: string): RegExp {
  if (text.startsWith("python3")) return /^\[.*'main\.ts'.*\]$/m; // ftplib's nlst() of the sandbox
  return /\bmain\.ts\b/; // `deno task start` serves the current folder: the sandbox
}

interface Server {
  running: Running;
  hostname: string;
  port: number;
}

Deno.test("the docs-as-tests extractor finds the commands it must", async () => {
  const commands = await docCommands();
  const texts = commands.map((command) => command.text);
  for (const expected of ["deno task start", "deno task bundle", "deno task compile"]) {
    assert.ok(texts.includes(expected), `README shows ${expected}`);
  }
  assert.ok(texts.some((text) => /main\.ts hash-password/.test(text)));
  assert.ok(commands.some((command) => command.file === "examples/s3.yaml"));
  // Every command listed as not run is still shown somewhere (no stale excuses).
  for (const listed of Object.keys(NOT_RUN)) {
    assert.ok(texts.includes(listed), `NOT_RUN lists a command the docs no longer show: ${listed}`);
  }
});

Deno.test({
  name: "docs as tests: every command in README.md and examples/ headers does what the text says",
  sanitizeResources: true,
  async fn(t) {
    const commands = await docCommands();
    const s3Unavailable = s3rverUnavailable();
    const s3 = s3Unavailable ? undefined : await startS3rver("ftp");
    const sandbox = await makeSandbox(s3?.endpoint);
    try {
      const groups = Map.groupBy(commands, (command) => command.group);
      for (const [group, members] of groups) {
        let server: Server | undefined;
        const stopServer = async (command: string) => {
          if (!server) return;
          const { running } = server;
          server = undefined;
          running.child.kill("SIGINT");
          const timer = setTimeout(() => running.child.kill("SIGKILL"), 30_000);
          const { code } = await running.status;
          clearTimeout(timer);
          assert.equal(code, 0, `${command} did not stop cleanly on SIGINT:\n${running.output()}`);
        };
        try {
          for (const command of members) {
            const label = `${command.where}: ${command.text}`;
            if (Object.hasOwn(NOT_RUN, command.text)) {
              await t.step({
                name: `${label} (not run: ${NOT_RUN[command.text]})`,
                ignore: true,
                fn() {},
              });
              continue;
            }
            const ignoreReason = NEEDS_S3.test(command.text)
              ? s3Unavailable
              : CLIENT.test(command.text) && !hasCommand(command.text.split(" ")[0])
              ? "client missing"
              : undefined;
            await t.step({
              name: ignoreReason ? `${label} (ignored: ${ignoreReason})` : label,
              ignore: ignoreReason !== undefined,
              fn: async () => {
                const text = substitute(command.text, sandbox);
                const env: Record<string, string> = {
                  S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
                  S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
                };
                if (startsServer(command.text)) {
                  await stopServer(command.text);
                  server = await startServer(text, command, sandbox, env);
                  using client = await RawFtpClient.connect({
                    hostname: server.hostname,
                    port: server.port,
                  });
                  assert.equal(client.greeting.code, 220, label);
                  if (/auth_users_file/.test(command.text)) {
                    // The hash printed by the hash-password line above lets the auditor
                    // in, and the password hashes are out of reach.
                    await client.login("auditor", "correct horse");
                    assert.equal((await client.send("SIZE users.yaml")).code, 550);
                    assert.equal((await client.send("SIZE /users.yaml")).code, 550);
                    assert.equal((await client.send("SIZE ../users.yaml")).code, 550);
                  }
                } else if (CLIENT.test(command.text)) {
                  assert.ok(server, `${label}: a client command needs a server before it`);
                  // lftp without -e is an interactive shell: type what a user would.
                  const typed = command.text.startsWith("lftp") ? "ls\n" : undefined;
                  const result = await runToEnd(text, sandbox, env, typed);
                  assert.equal(result.code, 0, `${label}\n${result.output}`);
                  assert.match(result.output, clientCheck(command.text), label);
                } else {
                  const result = await runToEnd(text, sandbox, env);
                  assert.equal(result.code, 0, `${label}\n${result.output}`);
                  await afterOneShot(command.text, result.output, sandbox);
                }
              },
            });
          }
        } finally {
          await stopServer(group);
        }
      }
    } finally {
      await s3?.[Symbol.asyncDispose]();
      await Deno.remove(sandbox.dir, { recursive: true });
    }
  },
});

/** Start a server command; it must say where it listens within the deadline. */
async function startServer(
  text: string,
  command: DocCommand,
  sandbox: Sandbox,
  env: Record<string, string>,
): Promise<Server> {
  let line = text;
  const serverEnv = { ...env, MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" };
  // The CLI's default port is documented (4040) without being written out:
  // substitute it the way the command allows (a flag, or FTP_PORT for the task).
  if (/\b(main\.ts|exftp\.js)\b/.test(text) && !/--port|--config/.test(text)) {
    line += ` --port ${sandbox.ports.get(4040)}`;
  }
  if (/deno task start\b/.test(text)) {
    Object.assign(serverEnv, { FTP_PORT: `${sandbox.ports.get(4040)}` });
  }
  // `exec` so that the signal reaches the server, not the shell.
  line = line.replace(/^((?:\w+=\S+\s+)*)/, "$1exec ");
  const running = spawn(line, sandbox, serverEnv);
  const deadline = Date.now() + 60_000;
  let match: RegExpExecArray | null = null;
  while (!(match = LISTENING.exec(running.output()))) {
    const exited = await Promise.race([
      running.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 50)),
    ]);
    if (exited || Date.now() > deadline) {
      if (!exited) running.child.kill("SIGKILL");
      await running.status;
      throw new Error(
        `${command.where}: ${command.text} did not start serving:\n${running.output()}`,
      );
    }
  }
  return { running, hostname: match[1].replace(/^\[|\]$/g, ""), port: Number(match[2]) };
}

/** Checks of one-shot commands beyond their exit code. */
async function afterOneShot(text: string, output: string, sandbox: Sandbox): Promise<void> {
  if (/hash-password/.test(text)) {
    assert.match(output, /^pbkdf2-sha256\$\d+\$[\w+/]+\$[\w+/]+$/m, `${text} prints a hash`);
    // The users file of the examples, with the hash just printed.
    const hash = /^(pbkdf2-sha256\$\S+)$/m.exec(output)![1];
    await Deno.writeTextFile(
      join(sandbox.dir, "users.yaml"),
      `- username: auditor\n  password_hash: "${hash}"\n  read_only: true\n`,
    );
  }
  if (text === "deno task bundle") {
    assert.ok((await Deno.stat(join(sandbox.dir, "exftp.js"))).isFile, "exftp.js written");
  }
}

Deno.test("examples/auth_users_file.ts refuses to serve the folder that holds users.yaml", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exftp-docs-" });
  try {
    await Deno.writeTextFile(join(dir, "users.yaml"), "[]\n");
    const example = join(REPO, "examples", "auth_users_file.ts");
    for (const root of [".", dir]) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-read=.",
          "--allow-write=.",
          example,
          "users.yaml",
          root,
        ],
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 2);
      assert.match(
        new TextDecoder().decode(output.stderr),
        /^Refusing to serve .*: it holds users\.yaml/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
