import assert from "node:assert/strict";
import { buildOptions } from "../../../src/config/config.ts";
import { ConfigError } from "../../../src/config/error.ts";

Deno.test("config: the cluster section becomes FtpServerOptions.cluster, with defaults", async () => {
  const config = await buildOptions({
    cluster: { redis_url: "redis://10.0.0.5:6379/2" },
    max_sessions_per_user: 2,
  });
  assert.deepEqual(config.options.cluster, {
    redisUrl: "redis://10.0.0.5:6379/2",
    keyPrefix: "exftp:",
    slotTtlMs: 30_000,
  });
  assert.equal(config.options.maxSessionsPerUser, 2);
  const custom = await buildOptions({
    cluster: { redis_url: "rediss://redis:6380", key_prefix: "eu:", slot_ttl_s: 5 },
  });
  assert.deepEqual(custom.options.cluster, {
    redisUrl: "rediss://redis:6380",
    keyPrefix: "eu:",
    slotTtlMs: 5000,
  });
  assert.equal((await buildOptions({})).options.cluster, undefined, "nothing changes without it");
});

Deno.test("config: a wrong cluster section names the key at fault", async () => {
  const fails = async (cluster: unknown, key: string, pattern: RegExp) => {
    const error = await buildOptions({ cluster }).then(() => undefined, (e) => e);
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.key, key);
    assert.match(error.message, pattern);
  };
  await fails({}, "cluster.redis_url", /required/);
  await fails({ redis_url: "http://x" }, "cluster.redis_url", /redis:\/\//);
  await fails({ redis_url: "redis://x", port: 1 }, "cluster.port", /unknown key/);
  await fails({ redis_url: "redis://x", slot_ttl_s: 0 }, "cluster.slot_ttl_s", /above 0/);
  await fails("redis://x", "cluster", /mapping/);
});

Deno.test("no module of the CLI imports ioredis as code: a server without cluster never downloads it", async () => {
  const main = new URL("../../../main.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(output.success);
  // deno run fetches the npm packages of code dependencies only; type-only imports are not fetched.
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string; code?: unknown }[] }[];
  };
  const redis = graph.modules.find((m) => m.specifier.endsWith("/src/cluster/redis.ts"));
  assert.ok(redis, "the Redis state is part of the CLI");
  const asCode = graph.modules.flatMap((m) =>
    (m.dependencies ?? [])
      .filter((d) => d.code !== undefined && /ioredis/.test(d.specifier))
      .map((d) => `${m.specifier} imports ${d.specifier}`)
  );
  assert.deepEqual(asCode, []);
  assert.ok(redis.dependencies?.some((d) => d.specifier === "ioredis"), "its types only");
});
