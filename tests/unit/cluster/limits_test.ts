/**
 * Two servers in one process sharing one state behave as one server: bans,
 * sessions per address and per user hold across both (what Redis gives a
 * fleet; here a MemoryState passed as `sharedState`). Also: a user's own
 * `maxSessions`, draining, and the state in /healthz and /metrics.
 */
import assert from "node:assert/strict";
import {
  FtpServer,
  type FtpServerOptions,
  type FtpUser,
  MemoryStorage,
  serveMetrics,
  silentLogger,
} from "../../../mod.ts";
import { MemoryState, type SharedState } from "../../../src/cluster/state.ts";
import { FailoverState, type ProbedState } from "../../../src/cluster/failover.ts";
import { RawFtpClient } from "../../../src/testing/raw_client.ts";
import { test } from "../../deadline.ts";

function users(extra: Record<string, Partial<FtpUser>> = {}) {
  return {
    authenticate({ username, password }: { username: string; password: string }) {
      if (password !== "right") return Promise.resolve(null);
      return Promise.resolve({ username, ...extra[username] });
    },
  };
}

async function pair(state: SharedState, options: Partial<FtpServerOptions> = {}) {
  const make = () =>
    new FtpServer({
      port: 0,
      minPassivePort: 0,
      maxPassivePort: 0,
      loginFailureDelayMs: 0,
      logger: silentLogger,
      authenticator: users(),
      storage: new MemoryStorage(),
      sharedState: state,
      ...options,
    });
  const a = make();
  const b = make();
  return {
    a: await a.listen(),
    b: await b.listen(),
    servers: [a, b],
    async [Symbol.asyncDispose]() {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

test("a ban earned on one node refuses the address on the other, also its open sessions", async () => {
  await using fleet = await pair(new MemoryState(), { banAfterFailures: 2, maxLoginFailures: 10 });
  using open = await RawFtpClient.connect(fleet.b);
  using client = await RawFtpClient.connect(fleet.a);
  for (let i = 0; i < 2; i++) {
    await client.send("USER bob");
    assert.equal((await client.send("PASS wrong")).code, 530);
  }
  using refused = await RawFtpClient.connect(fleet.b);
  assert.equal(refused.greeting.code, 421);
  assert.equal((await open.send("USER bob")).code, 421, "the open session on B hears of it");
});

test("max_sessions_per_ip counts the sessions of both nodes", async () => {
  await using fleet = await pair(new MemoryState(), { maxSessionsPerIp: 2 });
  using first = await RawFtpClient.connect(fleet.a);
  using second = await RawFtpClient.connect(fleet.b);
  using third = await RawFtpClient.connect(fleet.a);
  assert.equal(first.greeting.code, 220);
  assert.equal(second.greeting.code, 220);
  assert.equal(third.greeting.code, 421);
  assert.match(third.greeting.text, /from your address/);
  await first.send("QUIT");
  assert.ok(await first.closedByServer());
  await waitForGreeting(fleet.b, 220);
});

test("max_sessions_per_user holds across nodes, and a user's own maxSessions wins", async () => {
  await using fleet = await pair(new MemoryState(), {
    maxSessionsPerUser: 1,
    authenticator: users({ carol: { maxSessions: 2 } }),
  });
  using one = await RawFtpClient.connect(fleet.a);
  await one.login("bob", "right");
  using two = await RawFtpClient.connect(fleet.b);
  await two.send("USER bob");
  const refused = await two.send("PASS right");
  assert.equal(refused.code, 421);
  assert.match(refused.text, /too many sessions/i);
  assert.ok(await two.closedByServer());
  // carol's profile allows two
  using c1 = await RawFtpClient.connect(fleet.a);
  await c1.login("carol", "right");
  using c2 = await RawFtpClient.connect(fleet.b);
  await c2.login("carol", "right");
  using c3 = await RawFtpClient.connect(fleet.b);
  await c3.send("USER carol");
  assert.equal((await c3.send("PASS right")).code, 421);
  // bob's session ends: his slot is free again
  await one.send("QUIT");
  assert.ok(await one.closedByServer());
  using again = await RawFtpClient.connect(fleet.b);
  await again.login("bob", "right");
});

async function waitForGreeting(
  addr: { hostname: string; port: number },
  code: number,
): Promise<void> {
  for (let i = 0; i < 100; i++) {
    using client = await RawFtpClient.connect(addr);
    if (client.greeting.code === code) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${code} greeting`);
}

/** A store that can be switched off: calls and pings reject while it is down. */
class SwitchableStore extends MemoryState implements ProbedState {
  down = false;
  constructor() {
    super();
    for (const name of ["hit", "hasFlag", "setFlag", "acquireSlot", "releaseSlot", "countSlots"]) {
      const method = (this as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
        name
      ].bind(this);
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) =>
        this.down ? Promise.reject(new Error("connection refused")) : method(...args);
    }
  }
  override get mode() {
    return "shared" as const;
  }
  ping() {
    return this.down ? Promise.reject(new Error("connection refused")) : Promise.resolve();
  }
}

test("FailoverState: serves locally while the store fails, logs it, rejoins and re-registers its slots", async () => {
  const store = new SwitchableStore();
  const logged: string[] = [];
  const state = new FailoverState(store, {
    probeEveryMs: 10,
    logger: (level, message) => logged.push(`${level}: ${message}`),
  });
  try {
    await state.start(100);
    assert.equal(state.mode, "shared");
    assert.equal(await state.acquireSlot("user:bob", "n1:s1", 2, 60_000), true);
    store.down = true;
    assert.equal(await state.hasFlag("ban:x"), false, "answered from local state");
    assert.equal(state.mode, "degraded");
    assert.equal(state.degradations, 1);
    assert.ok(logged.some((line) => line.startsWith("warn: Shared state unreachable")));
    assert.equal(await state.countSlots("user:bob"), 1, "its own slot is counted locally too");
    assert.equal(await state.acquireSlot("user:bob", "n1:s2", 2, 60_000), true);
    assert.equal(await state.acquireSlot("user:bob", "n1:s3", 2, 60_000), false, "limit locally");
    await store.releaseSlot("user:bob", "n1:s1").catch(() => {});
    store.down = false;
    // A restarted store lost everything:
    await store.releaseSlot("user:bob", "n1:s1");
    for (let i = 0; i < 200 && state.mode !== "shared"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(state.mode, "shared");
    assert.ok(logged.some((line) => line.startsWith("info: Shared state reachable again")));
    assert.equal(await store.countSlots("user:bob"), 2, "both held slots re-registered");
  } finally {
    await state.close();
  }
});

test("FailoverState: a ban made while degraded is written to the store on rejoin, for the rest of its time", async () => {
  const store = new SwitchableStore();
  let now = 1_000_000;
  const state = new FailoverState(store, { probeEveryMs: 10, clock: () => now });
  try {
    await state.start(100);
    store.down = true;
    await state.setFlag("ban:192.0.2.7", 60_000); // degraded: set locally
    assert.equal(state.mode, "degraded");
    assert.equal(await state.hasFlag("ban:192.0.2.7"), true, "the ban holds on this node");
    await state.setFlag("ban:192.0.2.8", 5_000);
    now += 10_000; // the second ban has run out by the time the store is back
    store.down = false;
    for (let i = 0; i < 200 && (state.mode as string) !== "shared"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(state.mode as string, "shared");
    assert.equal(await store.hasFlag("ban:192.0.2.7"), true, "the fleet sees the ban");
    assert.equal(await store.hasFlag("ban:192.0.2.8"), false, "an expired ban is not revived");
    assert.equal(await state.hasFlag("ban:192.0.2.7"), true);
  } finally {
    await state.close();
  }
});

test("/healthz: 503 draining from the moment close() is called; /metrics shows mode and draining", async () => {
  const server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    logger: silentLogger,
    authenticator: users(),
    storage: new MemoryStorage(),
    shutdownGraceMs: 2000,
  });
  const addr = await server.listen();
  const endpoint = serveMetrics(server, { port: 0, hostname: "127.0.0.1" });
  const { port } = endpoint.addr as Deno.NetAddr;
  const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
  try {
    let response = await get("/metrics");
    const metrics = await response.text();
    assert.match(metrics, /exftp_shared_state\{mode="local"\} 1/);
    assert.match(metrics, /exftp_draining 0/);
    // Memory gauges: resident ≥ the V8 heap in use, which is > 0.
    const gauge = (pattern: RegExp) => Number(metrics.match(pattern)?.[1]);
    const resident = gauge(/^process_resident_memory_bytes (\d+)$/m);
    const heapUsed = gauge(/^exftp_v8_heap_bytes\{state="used"\} (\d+)$/m);
    assert.ok(heapUsed > 0 && resident > heapUsed, `resident ${resident}, heap ${heapUsed}`);
    assert.ok(gauge(/^exftp_v8_heap_bytes\{state="reserved"\} (\d+)$/m) >= heapUsed);
    assert.ok(gauge(/^exftp_external_memory_bytes (\d+)$/m) > 0);
    using client = await RawFtpClient.connect(addr);
    await client.login("bob", "right");
    const closing = server.close();
    response = await get("/healthz");
    assert.equal(response.status, 503);
    assert.equal(await response.text(), "draining\n");
    assert.match(await (await get("/metrics")).text(), /exftp_draining 1/);
    await assert.rejects(Deno.connect(addr), "new connections are refused");
    await closing;
  } finally {
    await endpoint.shutdown();
  }
});
