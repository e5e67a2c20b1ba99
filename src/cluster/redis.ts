/**
 * {@linkcode RedisState}: {@linkcode SharedState} in Redis (or anything that
 * speaks its protocol: Valkey, managed services), so that every node of a
 * fleet counts the same failed logins, bans and sessions.
 *
 * Every read-modify-write is one Lua script, so two nodes never interleave
 * inside one; times come from the Redis server's clock (`TIME`), so nodes
 * whose clocks differ still agree on what has expired. Queues are Redis
 * Streams read through one consumer group: an item handed out and never
 * acknowledged is claimed again (`XAUTOCLAIM`, Redis 6.2+) after its lease.
 * Multi-key scripts (slot renewal) need every key on one server: Redis
 * Cluster is not supported.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { QueuedItem, SharedState, SharedStateMode } from "./state.ts";

/**
 * ioredis's npm specifier, equal to `deno.json`'s import (a test keeps them
 * equal). Held in a variable so that the `import()` loading it can't be
 * analyzed: Deno fetches the npm packages of every analyzable dynamic import
 * before the program starts, so every server would download the client even
 * without `cluster` (see `S3_SDK_SPECIFIER` in `src/storage/s3/options.ts`).
 * `deno compile` needs `--include` with this specifier (the compile task has it).
 */
export const IOREDIS_SPECIFIER = "npm:ioredis@5.9.3";

/** Options of {@linkcode RedisState.open}. */
export interface RedisStateOptions {
  /** Prepended to every key, so that several fleets (or other apps) share one Redis. @default {"exftp:"} */
  keyPrefix?: string;
  /** A command without an answer after this long fails (the caller degrades), in ms. @default {1000} */
  commandTimeoutMs?: number;
  /** Connecting gives up after this long (and is retried), in ms. @default {2000} */
  connectTimeoutMs?: number;
  /** Told about connection errors (ioredis would print them otherwise). */
  onError?: (error: Error) => void;
}

// Milliseconds on the Redis server's clock.
const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";

/** KEYS[1] sorted set of times; ARGV window ms, unique member. Returns the count. */
const HIT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('ZCARD', KEYS[1])`;

/** KEYS[1] sorted set of holders scored by expiry; ARGV holder, limit, ttl. */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local taken = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not taken and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

/** KEYS slot sets; ARGV[1] ttl, ARGV[2..] the holder in each key. Renews only live slots. */
const RENEW = `${NOW}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local expires = redis.call('ZSCORE', key, ARGV[i + 1])
  if expires and tonumber(expires) > now then
    redis.call('ZADD', key, now + ttl, ARGV[i + 1])
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  end
end
return 1`;

/** KEYS[1] slot set. Returns the live slots. */
const COUNT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

/** KEYS[1] counter; ARGV delta, limit ('' for none). Returns {ok, value} as strings. */
const RESERVE = `local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local delta = tonumber(ARGV[1])
if delta > 0 and ARGV[2] ~= '' and current + delta > tonumber(ARGV[2]) then
  return {0, tostring(current)}
end
local value = current + delta
redis.call('SET', KEYS[1], tostring(value))
return {1, tostring(value)}`;

const GROUP = "exftp";

/** The commands the scripts add to the client. */
interface ScriptedRedis extends Redis {
  exftpHit(key: string, windowMs: number, member: string): Promise<number>;
  exftpAcquire(key: string, holder: string, limit: number, ttlMs: number): Promise<number>;
  exftpRenew(...keysAndArgs: (string | number)[]): Promise<number>;
  exftpCount(key: string): Promise<number>;
  exftpReserve(key: string, delta: number, limit: string): Promise<[number, string]>;
}

/**
 * {@linkcode SharedState} in Redis. Open it with {@linkcode RedisState.open}
 * (which loads the client, `npm:ioredis`, only then). A call made while Redis
 * is unreachable rejects at once (no offline queue): wrap it in a
 * {@linkcode FailoverState} to keep serving with local state meanwhile.
 *
 * @example
 * ```ts ignore
 * const state = await RedisState.open("redis://127.0.0.1:6379", { keyPrefix: "ftp-eu:" });
 * await state.ready(2000);
 * console.log(await state.acquireSlot("user:alice", "node1:7", 2, 30_000));
 * await state.close();
 * ```
 */
export class RedisState implements SharedState {
  readonly #client: ScriptedRedis;
  readonly #prefix: string;
  readonly #consumer = crypto.randomUUID();
  readonly #groups = new Set<string>();

  private constructor(client: ScriptedRedis, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  /**
   * Load the client and start connecting (in the background, retried for as
   * long as the state is open); resolves without waiting for Redis.
   *
   * @param url `redis://[user:password@]host:port[/db]` or `rediss://` for TLS
   */
  static async open(url: string, options: RedisStateOptions = {}): Promise<RedisState> {
    const specifier = IOREDIS_SPECIFIER; // not analyzable on purpose (see there)
    const module: { Redis: typeof Redis } = await import(specifier);
    const client = new module.Redis(url, {
      // A call while disconnected fails now instead of waiting: the node degrades.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      lazyConnect: false,
    }) as ScriptedRedis;
    client.on("error", (error: Error) => options.onError?.(error));
    client.defineCommand("exftpHit", { numberOfKeys: 1, lua: HIT });
    client.defineCommand("exftpAcquire", { numberOfKeys: 1, lua: ACQUIRE });
    client.defineCommand("exftpRenew", { lua: RENEW });
    client.defineCommand("exftpCount", { numberOfKeys: 1, lua: COUNT });
    client.defineCommand("exftpReserve", { numberOfKeys: 1, lua: RESERVE });
    return new RedisState(client, options.keyPrefix ?? "exftp:");
  }

  /** `shared` while connected, else `degraded`. */
  get mode(): SharedStateMode {
    return this.#client.status === "ready" ? "shared" : "degraded";
  }

  /** Resolves true once connected, false when not within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === "ready") return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.#client.off("ready", onReady);
        resolve(value);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#client.on("ready", onReady);
    });
  }

  /** Rejects unless Redis answers now. */
  async ping(): Promise<void> {
    await this.#client.ping();
  }

  /** {@inheritDoc SharedState.hit} */
  async hit(key: string, windowMs: number): Promise<number> {
    const member = `${Date.now()}:${crypto.randomUUID()}`;
    return Number(await this.#client.exftpHit(this.#key("hits", key), windowMs, member));
  }

  /** {@inheritDoc SharedState.clearHits} */
  async clearHits(key: string): Promise<void> {
    await this.#client.del(this.#key("hits", key));
  }

  /** {@inheritDoc SharedState.setFlag} */
  async setFlag(key: string, ttlMs: number): Promise<void> {
    await this.#client.set(this.#key("flag", key), "1", "PX", Math.max(1, Math.round(ttlMs)));
  }

  /** {@inheritDoc SharedState.hasFlag} */
  async hasFlag(key: string): Promise<boolean> {
    return (await this.#client.exists(this.#key("flag", key))) === 1;
  }

  /** {@inheritDoc SharedState.acquireSlot} */
  async acquireSlot(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean> {
    const taken = await this.#client.exftpAcquire(
      this.#key("slots", key),
      holder,
      Math.min(limit, Number.MAX_SAFE_INTEGER),
      Math.max(1, Math.round(ttlMs)),
    );
    return Number(taken) === 1;
  }

  /** {@inheritDoc SharedState.releaseSlot} */
  async releaseSlot(key: string, holder: string): Promise<void> {
    await this.#client.zrem(this.#key("slots", key), holder);
  }

  /** {@inheritDoc SharedState.renewSlots} */
  async renewSlots(
    slots: readonly { key: string; holder: string }[],
    ttlMs: number,
  ): Promise<void> {
    // One round trip per 500 slots: a busy node renews thousands at once.
    for (let start = 0; start < slots.length; start += 500) {
      const batch = slots.slice(start, start + 500);
      await this.#client.exftpRenew(
        batch.length,
        ...batch.map((slot) => this.#key("slots", slot.key)),
        Math.max(1, Math.round(ttlMs)),
        ...batch.map((slot) => slot.holder),
      );
    }
  }

  /** {@inheritDoc SharedState.countSlots} */
  async countSlots(key: string): Promise<number> {
    return Number(await this.#client.exftpCount(this.#key("slots", key)));
  }

  /** {@inheritDoc SharedState.reserve} */
  async reserve(
    key: string,
    delta: number,
    limit?: number,
  ): Promise<{ ok: boolean; value: number }> {
    const [ok, value] = await this.#client.exftpReserve(
      this.#key("counter", key),
      delta,
      limit === undefined ? "" : String(limit),
    );
    return { ok: Number(ok) === 1, value: Number(value) };
  }

  /** {@inheritDoc SharedState.readCounter} */
  async readCounter(key: string): Promise<number | undefined> {
    const value = await this.#client.get(this.#key("counter", key));
    return value === null ? undefined : Number(value);
  }

  /** {@inheritDoc SharedState.writeCounter} */
  async writeCounter(key: string, value: number): Promise<void> {
    await this.#client.set(this.#key("counter", key), String(value));
  }

  /** {@inheritDoc SharedState.enqueue} */
  async enqueue(queue: string, value: string): Promise<void> {
    const stream = await this.#stream(queue);
    await this.#client.xadd(stream, "*", "v", value);
  }

  /** {@inheritDoc SharedState.dequeue} */
  async dequeue(queue: string, leaseMs: number): Promise<QueuedItem | undefined> {
    try {
      return await this.#dequeue(await this.#stream(queue), leaseMs);
    } catch (error) {
      // Redis restarted without its data: the group is gone, make it again.
      if (!String((error as Error).message).includes("NOGROUP")) throw error;
      this.#groups.clear();
      return await this.#dequeue(await this.#stream(queue), leaseMs);
    }
  }

  async #dequeue(stream: string, leaseMs: number): Promise<QueuedItem | undefined> {
    const lease = Math.max(1, Math.round(leaseMs));
    // An item whose lease ran out first (its handler died), as MemoryState does.
    const claimed = await this.#client.xautoclaim(
      stream,
      GROUP,
      this.#consumer,
      lease,
      "0-0",
      "COUNT",
      1,
    ) as [string, [string, string[]][] | null];
    const stale = claimed[1]?.find((entry) => entry !== null);
    if (stale) {
      const [id, fields] = stale;
      const pending = await this.#client.xpending(stream, GROUP, id, id, 1) as [
        string,
        string,
        number,
        number,
      ][];
      const deliveries = Number(pending[0]?.[3] ?? 2) - 1;
      return { id, value: fieldValue(fields), deliveries };
    }
    const read = await this.#client.xreadgroup(
      "GROUP",
      GROUP,
      this.#consumer,
      "COUNT",
      1,
      "STREAMS",
      stream,
      ">",
    ) as [string, [string, string[]][]][] | null;
    const entry = read?.[0]?.[1]?.[0];
    if (!entry) return undefined;
    return { id: entry[0], value: fieldValue(entry[1]), deliveries: 0 };
  }

  /** {@inheritDoc SharedState.ack} */
  async ack(queue: string, id: string): Promise<void> {
    const stream = await this.#stream(queue);
    await this.#client.multi().xack(stream, GROUP, id).xdel(stream, id).exec();
  }

  /** Disconnect (a quit when connected, so pending replies arrive first). */
  async close(): Promise<void> {
    if (this.#client.status === "ready") {
      await this.#client.quit().catch(() => this.#client.disconnect());
    } else {
      this.#client.disconnect();
    }
  }

  #key(kind: string, key: string): string {
    return `${this.#prefix}${kind}:${key}`;
  }

  /** The stream of a queue, with its consumer group made on first use. */
  async #stream(queue: string): Promise<string> {
    const stream = this.#key("queue", queue);
    if (!this.#groups.has(stream)) {
      try {
        await this.#client.xgroup("CREATE", stream, GROUP, "0", "MKSTREAM");
      } catch (error) {
        if (!String((error as Error).message).includes("BUSYGROUP")) throw error;
      }
      this.#groups.add(stream);
    }
    return stream;
  }
}

function fieldValue(fields: string[]): string {
  const index = fields.indexOf("v");
  return index >= 0 ? fields[index + 1] : "";
}
