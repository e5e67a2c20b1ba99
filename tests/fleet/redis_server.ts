/**
 * A real `redis-server` for the tests (Debian's `redis-server`): on a free
 * port, without persistence, stopped on dispose; `stop()` and `start()` in
 * between simulate an outage (same port, data lost, as a restarted Redis
 * without persistence).
 *
 * @module
 */

import { withDeadline } from "../deadline.ts";

/** A running redis-server. */
export interface RedisServer extends AsyncDisposable {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Stop it (an outage). */
  stop(): Promise<void>;
  /** Start it again on the same port (empty). */
  start(): Promise<void>;
}

/**
 * Why Redis tests cannot run here, or undefined when they can. Under CI=true
 * a missing redis-server is an error (CI installs it), never a silent skip.
 */
export function redisUnavailable(): string | undefined {
  const found = new Deno.Command("sh", {
    args: ["-c", "command -v redis-server"],
    stdout: "null",
  }).outputSync().success;
  if (found) return undefined;
  const reason = "redis-server is not installed (Debian: apt-get install redis-server)";
  if (Deno.env.get("CI") === "true") {
    throw new Error(`${reason}; required under CI=true (.ci/run installs it)`);
  }
  console.warn(`ignored: Redis tests: ${reason}`);
  return reason;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function answers(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(16);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/** Start redis-server on a free port and wait until it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Polled with a deadline: redis-server says nothing when it is ready.
    await withDeadline(10_000, async () => {
      while (!(await answers(port))) await new Promise((r) => setTimeout(r, 20));
    }, `redis-server on port ${port}`);
  };
  const stop = async () => {
    if (!child) return;
    const running = child;
    child = undefined;
    try {
      running.kill("SIGKILL");
    } catch { /* already gone */ }
    await running.status;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    [Symbol.asyncDispose]: stop,
  };
}
