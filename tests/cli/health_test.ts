/**
 * Start-up checks of S3 with a per-user prefix, and `/healthz` reporting the
 * storage and the auth service, through the real CLI process.
 */

import assert from "node:assert/strict";
import { startCli } from "../cli_process.ts";
import { s3rverUnavailable, startS3rver } from "../s3rver.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
const unavailable = s3rverUnavailable();
// What `deno task start` grants (deno.json), so the task's flags are what is tested.
const TASK_PERMISSIONS = (JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
).tasks.start as string).split(" ").filter((word) => word.startsWith("--allow-"));

Deno.test("deno task compile grants what deno task start grants (the S3 SDK needs --allow-sys=osRelease)", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks;
  const flags = (task: string) => task.split(" ").filter((word) => word.startsWith("--allow-"));
  assert.deepEqual(flags(tasks.compile), TASK_PERMISSIONS);
  assert.ok(TASK_PERMISSIONS.includes("--allow-sys=osRelease"));
});

function s3Yaml(endpoint: string, overrides: Record<string, string> = {}): string {
  const config: Record<string, string> = {
    bucket: "ftp",
    prefix: '"users/{username}"',
    endpoint,
    force_path_style: "true",
    region: "us-east-1",
    access_key_id: "S3RVER",
    secret_access_key: "S3RVER",
    ...overrides,
  };
  const lines = Object.entries(config).filter(([, v]) => v !== "").map(([k, v]) => `  ${k}: ${v}`);
  return `ftp_port: 0\nstorage_connector: s3\nstorage_config:\n${lines.join("\n")}\n`;
}

async function runCli(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, MAIN, ...args],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const output = await child.output();
    return { code: output.code, stderr: decoder.decode(output.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

async function healthz(port: number): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, text: await response.text() };
}

async function waitForHealth(port: number, status: number, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = await healthz(port);
  while (last.status !== status) {
    if (Date.now() > deadline) {
      throw new Error(`/healthz stayed ${last.status}: ${last.text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    last = await healthz(port);
  }
  return last;
}

Deno.test({
  name: "S3 with {username}: wrong or missing credentials and a missing bucket stop start-up",
  ignore: unavailable !== undefined,
  async fn() {
    await using s3 = await startS3rver("ftp");
    const dir = await Deno.makeTempDir();
    // No AWS variables, and a HOME without ~/.aws: the standard chain finds nothing.
    const env = {
      HOME: dir,
      PATH: Deno.env.get("PATH") ?? "",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    };
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { access_key_id: "WRONG", secret_access_key: "WRONG" },
          /^exftp: config: storage_config: Access denied .*check the credentials \(InvalidAccessKeyId\)$/,
        ],
        [
          { access_key_id: "", secret_access_key: "" },
          /^exftp: config: storage_config: No S3 credentials found/,
        ],
        [
          { bucket: "missing" },
          /^exftp: config: storage_config.bucket: Bucket "missing" does not exist/,
        ],
      ];
      for (const [overrides, expected] of cases) {
        await Deno.writeTextFile(`${dir}/c.yaml`, s3Yaml(s3.endpoint, overrides));
        const result = await runCli(["--config", `${dir}/c.yaml`], env);
        assert.equal(result.code, 2, result.stderr);
        const lines = result.stderr.trim().split("\n");
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0], expected);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "/healthz: 200 while S3 answers (with the start task's permissions), 503 naming the storage once s3rver stops",
  ignore: unavailable !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const s3 = await startS3rver("ftp");
      let s3Running = true;
      try {
        await Deno.writeTextFile(`${dir}/c.yaml`, s3Yaml(s3.endpoint) + "metrics_port: 0\n");
        const cli = await startCli(["--config", `${dir}/c.yaml`], {
          permissions: TASK_PERMISSIONS,
          until: /Metrics on http:\/\/127\.0\.0\.1:\d+/,
        });
        try {
          const metricsPort = Number(/Metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.seen)![1]);
          assert.deepEqual(await healthz(metricsPort), { status: 200, text: "ok\n" });
          await s3[Symbol.asyncDispose]();
          s3Running = false;
          const down = await waitForHealth(metricsPort, 503);
          assert.match(
            down.text,
            /^storage: Cannot reach S3 \(http:\/\/127\.0\.0\.1:\d+, bucket "ftp"/,
          );
        } finally {
          assert.equal((await cli.stop()).code, 0);
        }
      } finally {
        if (s3Running) await s3[Symbol.asyncDispose]();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("/healthz: 503 naming the auth service when it stops answering or answers 5xx", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const service = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("no\n", { status: 401 }),
    );
    const servicePort = service.addr.port;
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      `ftp_port: 0\nmetrics_port: 0\nstorage_config:\n  root: ${dir}\nauthenticator: basic\n` +
        `authenticator_config:\n  login_url: http://127.0.0.1:${servicePort}/login\n`,
    );
    const cli = await startCli(["--config", `${dir}/c.yaml`], {
      permissions: ["-A"],
      until: /Metrics on http:\/\/127\.0\.0\.1:\d+/,
    });
    try {
      const metricsPort = Number(/Metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.seen)![1]);
      assert.deepEqual(await healthz(metricsPort), { status: 200, text: "ok\n" });
      await service.shutdown();
      const down = await waitForHealth(metricsPort, 503);
      assert.match(
        down.text,
        new RegExp(`^auth: http://127\\.0\\.0\\.1:${servicePort}/login unreachable`),
      );
      const failing = Deno.serve(
        { hostname: "127.0.0.1", port: servicePort, onListen() {} },
        () => new Response("oops\n", { status: 502 }),
      );
      try {
        const broken = await waitForHealth(metricsPort, 503);
        assert.match(broken.text, /^auth: /);
        await waitFor503Text(metricsPort, /answered 502/);
      } finally {
        await failing.shutdown();
      }
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function waitFor503Text(port: number, pattern: RegExp, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = await healthz(port);
  while (!pattern.test(last.text)) {
    if (Date.now() > deadline) throw new Error(`/healthz never matched ${pattern}: ${last.text}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await healthz(port);
  }
}
