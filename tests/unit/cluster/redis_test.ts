import assert from "node:assert/strict";
import { RedisState } from "../../../src/cluster/redis.ts";
import { type RedisServer, redisUnavailable, startRedis } from "../../fleet/redis_server.ts";
import { sharedStateBehaviours } from "./behaviours.ts";

const unavailable = redisUnavailable();
let server: RedisServer | undefined;
let prefixes = 0;

async function redisServer(): Promise<RedisServer> {
  server ??= await startRedis();
  return server;
}

async function openState(keyPrefix: string): Promise<RedisState> {
  const state = await RedisState.open((await redisServer()).url, { keyPrefix });
  assert.equal(await state.ready(5000), true, "redis-server answers");
  return state;
}

// One redis-server for the file; each test gets its own key prefix.
sharedStateBehaviours(
  "RedisState",
  async () => ({
    state: await openState(`t${++prefixes}:`),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }),
  { ignore: unavailable !== undefined },
);

Deno.test({
  name: "RedisState: key prefixes keep fleets apart",
  ignore: unavailable !== undefined,
  async fn() {
    const east = await openState("east:");
    const west = await openState("west:");
    try {
      await east.setFlag("ban:1.2.3.4", 10_000);
      assert.equal(await east.hasFlag("ban:1.2.3.4"), true);
      assert.equal(await west.hasFlag("ban:1.2.3.4"), false);
      assert.equal(await east.acquireSlot("user:bob", "e:1", 1, 10_000), true);
      assert.equal(await west.acquireSlot("user:bob", "w:1", 1, 10_000), true);
      assert.equal(east.mode, "shared");
    } finally {
      await east.close();
      await west.close();
    }
  },
});

Deno.test({
  name: "RedisState: calls reject at once while redis-server is down, and work once it is back",
  ignore: unavailable !== undefined,
  async fn() {
    const redis = await redisServer();
    const state = await openState("outage:");
    try {
      await redis.stop();
      const started = performance.now();
      await assert.rejects(state.hasFlag("x"));
      assert.ok(performance.now() - started < 1500, "no waiting on an offline queue");
      await redis.start();
      assert.equal(await state.ready(10_000), true);
      assert.equal(await state.hasFlag("x"), false);
    } finally {
      await state.close();
    }
  },
});

Deno.test({
  name: "RedisState: the ioredis specifier is deno.json's import",
  async fn() {
    const { IOREDIS_SPECIFIER } = await import("../../../src/cluster/redis.ts");
    const config = JSON.parse(
      await Deno.readTextFile(new URL("../../../deno.json", import.meta.url)),
    );
    assert.equal(config.imports.ioredis, IOREDIS_SPECIFIER);
    assert.ok(config.tasks.compile.includes(`--include ${IOREDIS_SPECIFIER}`));
  },
});

// Stops the shared redis-server after the file's last test.
Deno.test({
  name: "RedisState: (stop redis-server)",
  ignore: unavailable !== undefined,
  async fn() {
    await server?.stop();
  },
});
