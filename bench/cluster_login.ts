/**
 * What shared state costs per login: the same sequential logins (connect,
 * USER, PASS, QUIT) against a server with in-process state and against one
 * with `cluster` on a local redis-server, and the Redis commands each login
 * sends (from Redis's own `total_commands_processed`).
 *
 * `deno run -A bench/cluster_login.ts [--logins N]` (needs `redis-server`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FtpServer, type FtpServerOptions, MemoryStorage, silentLogger } from "../mod.ts";
import { RawFtpClient } from "../src/testing/raw_client.ts";
import { startRedis } from "../tests/fleet/redis_server.ts";

const { values } = parseArgs({ args: Deno.args, options: { logins: { type: "string" } } });
const LOGINS = Number(values.logins ?? 2000);

/** Calls per command (script-internal calls count too, under their own names). */
async function commandStats(port: number): Promise<Map<string, number>> {
  const output = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), "info", "commandstats"],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  return new Map(
    [...text.matchAll(/cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]),
  );
}

// What a node sends itself; the rest are the scripts' own calls (no round trip each).
const SENT = new Set(["evalsha", "eval", "exists", "zrem", "set", "get", "del", "ping", "script"]);

async function measure(options: Partial<FtpServerOptions>): Promise<number[]> {
  await using server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    logger: silentLogger,
    loginFailureDelayMs: 0,
    maxSessionsPerUser: 100,
    authenticator: { authenticate: ({ username }) => Promise.resolve({ username }) },
    storage: new MemoryStorage(),
    ...options,
  });
  const addr = await server.listen();
  const times: number[] = [];
  for (let i = 0; i < LOGINS + 100; i++) {
    const started = performance.now();
    using client = await RawFtpClient.connect(addr);
    await client.login("bob", "pw");
    await client.send("QUIT");
    await client.closedByServer();
    if (i >= 100) times.push(performance.now() - started); // the first 100 warm up
  }
  if (server.sharedStateMode === "degraded") throw new Error("Redis did not answer");
  return times.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(3);

await using redis = await startRedis();
const local = await measure({});
const before = await commandStats(redis.port);
const shared = await measure({ cluster: { redisUrl: redis.url } });
const after = await commandStats(redis.port);
const perLogin = [...after]
  .map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / (LOGINS + 100)] as const)
  .filter(([name, calls]) => calls >= 0.5 && name !== "info");

console.log(`${LOGINS} sequential logins (connect, USER, PASS, QUIT), ms per login:`);
console.log("| state             | median | p90   | p99   |");
console.log("| ----------------- | ------ | ----- | ----- |");
for (const [name, times] of [["in-process", local], ["Redis (cluster)", shared]] as const) {
  console.log(
    `| ${name.padEnd(17)} | ${percentile(times, 0.5)}  | ${percentile(times, 0.9)} | ${
      percentile(times, 0.99)
    } |`,
  );
}
const sent = perLogin.filter(([name]) => SENT.has(name));
const inScripts = perLogin.filter(([name]) => !SENT.has(name));
const show = (list: typeof perLogin) => list.map(([n, c]) => `${n} ${c.toFixed(1)}`).join(", ");
const total = (list: typeof perLogin) => list.reduce((sum, [, c]) => sum + c, 0).toFixed(1);
console.log(`Redis round trips per login: ${total(sent)} (${show(sent)})`);
console.log(`inside scripts: ${total(inScripts)} (${show(inScripts)})`);
