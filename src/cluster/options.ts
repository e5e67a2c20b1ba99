/**
 * {@linkcode ClusterOptions}: what makes a server one node of a fleet, and
 * the shared state opened from them.
 *
 * @module
 */

import { ConfigError } from "../config/error.ts";
import { CLUSTER_SETTINGS, problemWith } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { FailoverState } from "./failover.ts";

/** Options of `FtpServerOptions.cluster`: share limits and bans through Redis. */
export interface ClusterOptions {
  /** `redis://[user:password@]host:port[/db]` (`rediss://` for TLS); any server speaking the Redis protocol. */
  redisUrl: string;
  /** Prepended to every key, so several fleets (or apps) share one Redis. @default {"exftp:"} */
  keyPrefix?: string;
  /**
   * How long a session slot lives unless its node renews it, in ms: a node
   * that dies stops counting toward the limits after this long.
   * @default {30000}
   */
  slotTtlMs?: number;
}

/** How long a starting node waits for Redis before it starts degraded, in ms. */
export const CLUSTER_CONNECT_WAIT_MS = 3000;

/**
 * The state of a fleet node: Redis (its client loaded only now), with local
 * state while Redis is unreachable. Call `start()` before serving.
 */
export function openClusterState(options: ClusterOptions, logger: Logger): FailoverState {
  let lastError = "";
  // The Redis client code loads only for a fleet (RSS after start, issue 16).
  const store = import("./redis.ts").then(({ RedisState }) =>
    RedisState.open(options.redisUrl, {
      keyPrefix: options.keyPrefix,
      onError(error) {
        // ioredis reports every reconnect attempt: log each distinct problem once.
        if (error.message === lastError) return;
        lastError = error.message;
        logger("debug", "Redis connection error", { error: error.message });
      },
    })
  );
  return new FailoverState(store, { logger });
}

/**
 * The `cluster` section of a config file as {@linkcode ClusterOptions}, or
 * `undefined` without one; throws a `ConfigError` naming the key at fault.
 *
 * @param section the `cluster` value, checked to be a mapping
 */
export function clusterOptionsFromConfig(
  section: Record<string, unknown> | undefined,
): ClusterOptions | undefined {
  if (section === undefined) return undefined;
  const known = CLUSTER_SETTINGS.map((setting) => setting.key!.slice("cluster.".length));
  for (const key of Object.keys(section)) {
    if (!known.includes(key)) {
      throw new ConfigError(`cluster.${key}`, `unknown key; known: ${known.join(", ")}`);
    }
  }
  const value = (key: string): unknown => {
    const setting = CLUSTER_SETTINGS.find((s) => s.key === `cluster.${key}`)!;
    const raw = section[key];
    if (raw === undefined || raw === null) {
      if (setting.default === undefined) throw new ConfigError(setting.key!, "is required");
      return setting.default;
    }
    const given = setting.kind === "duration" && typeof raw === "number"
      ? raw * setting.unit!
      : raw;
    const problem = problemWith(setting, given, raw);
    if (problem) throw new ConfigError(setting.key!, problem);
    return given;
  };
  const redisUrl = value("redis_url") as string;
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(
      "cluster.redis_url",
      `must start with redis:// or rediss://, got "${redisUrl}"`,
    );
  }
  return {
    redisUrl,
    keyPrefix: value("key_prefix") as string,
    slotTtlMs: Math.round(value("slot_ttl_s") as number),
  };
}
