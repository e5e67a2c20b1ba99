/**
 * A fleet of exftp CLI nodes for the tests: each node a real `main.ts`
 * process on its own loopback address (127.0.0.2, 127.0.0.3, …), all sharing
 * one real `redis-server` (`cluster`) and one s3rver bucket (S3 storage), with
 * `/metrics` and `/healthz` on. Tests talk to each node directly; a balancer
 * in front (HAProxy with PROXY headers) can be added by starting it on
 * {@linkcode FleetNode.host}:{@linkcode FleetNode.port} of each node.
 *
 * @module
 */

import { hashPassword } from "../../src/auth/password_hash.ts";
import { type CliProcess, startCli } from "../cli_process.ts";
import { type S3rver, S3RVER_CREDENTIALS } from "../s3rver.ts";
import type { RedisServer } from "./redis_server.ts";

/** The users every fleet knows: name → password. */
export const FLEET_USERS = { bob: "bobpw", carol: "carolpw" } as const;

/** One running node. */
export interface FleetNode {
  /** Its loopback address (the control and passive listeners bind here). */
  readonly host: string;
  /** Its control port. */
  readonly port: number;
  /** Its `/metrics` and `/healthz` port (on `host`). */
  readonly metricsPort: number;
  readonly cli: CliProcess;
  /** `{ hostname, port }` for clients. */
  readonly addr: { hostname: string; port: number };
  /** `ftp://user:password@host:port/`. */
  url(user?: keyof typeof FLEET_USERS): string;
  /** GET a path of the metrics endpoint: status and text. */
  http(path: string): Promise<{ status: number; text: string }>;
  /** SIGKILL: the node dies without releasing anything. */
  kill(): Promise<void>;
  /** SIGTERM, then the exit code and stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/** Options of {@linkcode startFleet}. */
export interface FleetOptions {
  /** One node per address. @default {["127.0.0.2", "127.0.0.3"]} */
  hosts?: string[];
  /** More YAML keys for every node (`ban_after_failures: 3`…). */
  config?: string;
  /**
   * Top-level keys of one node's config that replace the defaults above
   * (`ftp_port`, `min_passive_port`, `server_name`…) or come in addition.
   */
  nodeConfig?: (host: string, index: number) => Record<string, string | number>;
}

/** Nodes sharing one Redis and one bucket, under keys and a prefix of their own. */
export interface Fleet extends AsyncDisposable {
  readonly nodes: FleetNode[];
  /** The folder of the nodes' config and users files. */
  readonly dir: string;
}

/** Start the nodes (in parallel) and wait until each listens and has its metrics port. */
export async function startFleet(
  redis: RedisServer,
  s3: S3rver,
  options: FleetOptions = {},
): Promise<Fleet> {
  const dir = await Deno.makeTempDir({ prefix: "exftp-fleet-" });
  const id = crypto.randomUUID().slice(0, 8);
  const users = await Promise.all(
    Object.entries(FLEET_USERS).map(async ([username, password]) =>
      `- username: ${username}\n  password_hash: "${await hashPassword(password, {
        iterations: 1000,
      })}"\n`
    ),
  );
  await Deno.writeTextFile(`${dir}/users.yaml`, users.join(""));
  const nodes: FleetNode[] = [];
  const hosts = options.hosts ?? ["127.0.0.2", "127.0.0.3"];
  try {
    const started = await Promise.allSettled(hosts.map((host, index) => startNode(host, index)));
    // Every node that started is pushed (and killed below) before a failure is thrown.
    for (const node of started) if (node.status === "fulfilled") nodes.push(node.value);
    for (const node of started) if (node.status === "rejected") throw node.reason;
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    nodes,
    dir,
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((node) => node.kill()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };

  async function startNode(host: string, index: number): Promise<FleetNode> {
    const file = `${dir}/${host}.yaml`;
    const scalars: Record<string, string | number> = {
      ftp_addr: host,
      ftp_port: 0,
      min_passive_port: 0,
      max_passive_port: 0,
      metrics_port: 0,
      ...options.nodeConfig?.(host, index),
    };
    await Deno.writeTextFile(
      file,
      [
        ...Object.entries(scalars).map(([key, value]) => `${key}: ${value}`),
        "authenticator: users_file",
        "authenticator_config:",
        "  path: users.yaml",
        "storage_connector: s3",
        "storage_config:",
        `  bucket: ${s3.bucket}`,
        `  prefix: fleet-${id}`,
        `  endpoint: ${s3.endpoint}`,
        "  force_path_style: true",
        "  region: us-east-1",
        `  access_key_id: ${S3RVER_CREDENTIALS.accessKeyId}`,
        `  secret_access_key: ${S3RVER_CREDENTIALS.secretAccessKey}`,
        "login_failure_delay_ms: 0",
        "cluster:",
        `  redis_url: ${redis.url}`,
        `  key_prefix: "fleet-${id}:"`,
        "  slot_ttl_s: 3",
        options.config ?? "",
      ].join("\n") + "\n",
    );
    const cli = await startCli(["--config", file], { until: /Metrics on http:\/\/[^/]+:\d+/ });
    const metricsPort = Number(/Metrics on http:\/\/[^/]+:(\d+)/.exec(cli.seen)![1]);
    const addr = { hostname: host, port: cli.port };
    let dead = false;
    return {
      host,
      port: cli.port,
      metricsPort,
      cli,
      addr,
      url: (user) =>
        user
          ? `ftp://${user}:${FLEET_USERS[user]}@${host}:${cli.port}/`
          : `ftp://${host}:${cli.port}/`,
      async http(path) {
        const response = await fetch(`http://${host}:${metricsPort}${path}`);
        return { status: response.status, text: await response.text() };
      },
      async kill() {
        if (dead) return;
        dead = true;
        try {
          cli.child.kill("SIGKILL");
        } catch { /* gone */ }
        await cli.stop();
      },
      async stop() {
        dead = true;
        return await cli.stop();
      },
    };
  }
}

/** Run a command; its exit code, stdout and stderr. */
export async function run(
  command: string,
  args: string[],
  options: { signal?: AbortSignal } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: options.signal,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Poll `condition` every 50 ms until it holds, failing after `timeoutMs`. */
export async function eventually(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
