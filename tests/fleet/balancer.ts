/**
 * A fleet behind HAProxy, as the README's "Running a fleet" section sets it
 * up: `examples/haproxy_fleet.cfg` and the README's per-node settings, with
 * the example addresses and ports replaced by loopback ones. Clients dial the
 * front address; HAProxy reaches the nodes from 127.0.0.1 with PROXY v2
 * headers, each node's passive ports forwarded to that node only.
 *
 * @module
 */

import { join } from "node:path";
import { withDeadline } from "../deadline.ts";
import type { S3rver } from "../s3rver.ts";
import { type Fleet, type FleetNode, startFleet } from "./fleet.ts";
import type { RedisServer } from "./redis_server.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** What clients dial (the balancer's front end). */
export const FRONT = "127.0.0.30";
/** The nodes, by their names in greetings (`220 Hello from node-a.`). */
export const NODE_HOSTS = ["127.0.0.31", "127.0.0.32"] as const;
export const NODE_NAMES = ["node-a", "node-b"] as const;
/** Where HAProxy connects from (the kernel's choice on loopback): the trusted peer. */
export const BALANCER = "127.0.0.1";

/** The ports: the front's control port, the nodes' control and metrics ports, two ranges of 10. */
interface Ports {
  front: number;
  control: number;
  metrics: number;
  /** First passive port of each node (10 each). */
  passive: [number, number];
}

/** Ports free on the front and both node addresses right now. */
function freePorts(): Ports {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 31000 + Math.floor(Math.random() * 8000);
    const held: Deno.Listener[] = [];
    try {
      for (let port = base; port < base + 23; port++) {
        for (const hostname of [FRONT, ...NODE_HOSTS]) held.push(Deno.listen({ hostname, port }));
      }
      return { front: base, control: base + 1, metrics: base + 2, passive: [base + 3, base + 13] };
    } catch {
      // taken: try elsewhere
    } finally {
      for (const listener of held) listener.close();
    }
  }
  throw new Error("no free ports found");
}

/** The YAML block after "**Behind one balancer.**" in the README, as top-level keys. */
async function readmeNodeSettings(): Promise<Record<string, string>> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const section = readme.slice(readme.indexOf("**Behind one balancer.**"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1];
  const settings: Record<string, string> = {};
  for (const line of yaml.split("\n")) {
    const match = /^(\w+): (.*?)(?:\s+#.*)?$/.exec(line);
    if (match) settings[match[1]] = match[2];
  }
  return settings;
}

/** Node `index`'s settings: the README's, on loopback. */
function nodeSettings(
  readme: Record<string, string>,
  ports: Ports,
  index: number,
): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(readme)) {
    settings[key] = value
      .replace("10.0.0.11", NODE_HOSTS[index])
      .replace("10.0.0.5/32", `${BALANCER}/32`)
      .replace(/^2121$/, `${ports.control}`)
      .replace(/^40000$/, `${ports.passive[index]}`)
      .replace(/^40009$/, `${ports.passive[index] + 9}`);
  }
  settings.metrics_port = `${ports.metrics}`;
  settings.server_name = NODE_NAMES[index];
  return settings;
}

/** `examples/haproxy_fleet.cfg` on loopback. */
async function haproxyConfig(ports: Ports): Promise<string> {
  const range = (first: number) => `${FRONT}:${first}-${first + 9}`;
  const cfg = (await Deno.readTextFile(join(REPO, "examples/haproxy_fleet.cfg")))
    .replaceAll("203.0.113.10:40000-40009", range(ports.passive[0]))
    .replaceAll("203.0.113.10:40010-40019", range(ports.passive[1]))
    .replaceAll("203.0.113.10:21\n", `${FRONT}:${ports.front}\n`)
    .replaceAll("10.0.0.11:2121", `${NODE_HOSTS[0]}:${ports.control}`)
    .replaceAll("10.0.0.12:2121", `${NODE_HOSTS[1]}:${ports.control}`)
    .replaceAll("10.0.0.11", NODE_HOSTS[0])
    .replaceAll("10.0.0.12", NODE_HOSTS[1])
    .replaceAll("port 9100", `port ${ports.metrics}`);
  const settings = cfg.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
  if (/203\.0\.113|10\.0\.0\.|\b(2121|9100|400\d\d)\b/.test(settings)) {
    throw new Error(`an example address or port was not replaced:\n${settings}`);
  }
  return cfg;
}

/** Two nodes behind HAProxy. */
export interface BalancedFleet extends AsyncDisposable {
  readonly fleet: Fleet;
  /** Node A and node B. */
  readonly nodes: FleetNode[];
  /** The front's control port (on {@linkcode FRONT}). */
  readonly port: number;
  /** Each node's passive ports, first and last (the front forwards each range to its node). */
  readonly passivePorts: [number, number][];
  /** HAProxy's stderr so far. */
  haproxyLog(): string;
  /**
   * Make the NEXT control connection through the balancer go to node
   * `index`: HAProxy's round robin alternates strictly, so probe (from
   * 127.0.0.1, no client under test) until a probe lands on the other node. (Nothing else
   * may connect meanwhile; health checks go to the metrics port.)
   */
  steer(index: 0 | 1): Promise<void>;
}

/** The greeting of a connection through the balancer from 127.0.0.1 (the node's name), or "". */
async function probe(port: number): Promise<string> {
  // Deno can't bind a source address; these come from 127.0.0.1 (no client under test).
  using conn = await Deno.connect({ hostname: FRONT, port });
  const buffer = new Uint8Array(256);
  const n = await conn.read(buffer);
  return n ? new TextDecoder().decode(buffer.subarray(0, n)) : "";
}

/** Start the fleet (with `config` for every node), then HAProxy in front; both stop on dispose. */
export async function startBalancedFleet(
  redis: RedisServer,
  s3: S3rver,
  config = "",
): Promise<BalancedFleet> {
  const ports = freePorts();
  const readme = await readmeNodeSettings();
  const fleet = await startFleet(redis, s3, {
    hosts: [...NODE_HOSTS],
    config: config + "\nlog_format: json",
    nodeConfig: (_host, index) => nodeSettings(readme, ports, index),
  });
  const cfgFile = join(fleet.dir, "haproxy.cfg");
  let haproxy: Deno.ChildProcess | undefined;
  let log = "";
  let logDone: Promise<void> = Promise.resolve();
  const dispose = async () => {
    if (haproxy) {
      try {
        haproxy.kill("SIGKILL");
      } catch { /* gone */ }
      await haproxy.status;
      await logDone;
    }
    await fleet[Symbol.asyncDispose]();
  };
  try {
    await Deno.writeTextFile(cfgFile, await haproxyConfig(ports));
    const check = await new Deno.Command("haproxy", { args: ["-c", "-q", "-f", cfgFile] }).output();
    if (!check.success) {
      throw new Error(`haproxy -c: ${new TextDecoder().decode(check.stderr)}`);
    }
    haproxy = new Deno.Command("haproxy", {
      args: ["-db", "-f", cfgFile],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    logDone = (async () => {
      for await (const chunk of haproxy.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
    })();
    // Ready when both nodes have greeted through the balancer.
    await withDeadline(10_000, async () => {
      const seen = new Set<string>();
      while (seen.size < 2) {
        const greeting = await probe(ports.front).catch(() => "");
        for (const name of NODE_NAMES) if (greeting.includes(`from ${name}.`)) seen.add(name);
        if (seen.size < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }, "both nodes greeting through HAProxy");
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    fleet,
    nodes: fleet.nodes,
    port: ports.front,
    passivePorts: ports.passive.map((first) => [first, first + 9]),
    haproxyLog: () => log,
    async steer(index) {
      const other = NODE_NAMES[1 - index];
      await withDeadline(5000, async () => {
        while (true) {
          const greeting = await probe(ports.front);
          if (greeting.includes(`from ${other}.`)) return;
          // A refusal names no node: where it landed is unknown, so probe on.
          if (!NODE_NAMES.some((name) => greeting.includes(`from ${name}.`))) {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }, `steering to ${NODE_NAMES[index]}`);
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** Per the node's JSON log: the reasons it refused connections from `client`. */
export function refusals(node: FleetNode, client: string): string[] {
  const reasons: string[] = [];
  for (const line of node.cli.stdout().split("\n").concat(node.cli.stderr().split("\n"))) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line);
    if (entry.message === "Connection refused" && entry.client === client) {
      reasons.push(entry.reason);
    }
  }
  return reasons;
}
