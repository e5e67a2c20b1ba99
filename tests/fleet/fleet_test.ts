/**
 * The fleet test: two exftp CLI nodes (127.0.0.2 and 127.0.0.3) sharing one
 * real redis-server and one s3rver bucket, driven by real clients (curl, and
 * a raw client where exact reply codes matter) connecting to each node
 * directly. Each test starts its own nodes under a key prefix and S3 prefix
 * of their own; Redis and s3rver are shared by the file.
 */

import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { test } from "../deadline.ts";
import { type S3rver, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { eventually, FLEET_USERS, type FleetNode, run, startFleet } from "./fleet.ts";
import { type RedisServer, redisUnavailable, startRedis } from "./redis_server.ts";

const unavailable = redisUnavailable() ?? s3rverUnavailable() ?? curlUnavailable();
const ignore = unavailable !== undefined;

function curlUnavailable(): string | undefined {
  const found = new Deno.Command("sh", { args: ["-c", "command -v curl"], stdout: "null" })
    .outputSync().success;
  if (found) return undefined;
  if (Deno.env.get("CI") === "true") throw new Error("curl is required under CI=true");
  return "curl is not installed";
}

let shared: { redis: RedisServer; s3: S3rver } | undefined;
async function services() {
  if (!shared) {
    const [redis, s3] = await Promise.all([startRedis(), startS3rver("exftp-fleet")]);
    shared = { redis, s3 };
  }
  return shared;
}

async function fleet(config = "") {
  const { redis, s3 } = await services();
  return await startFleet(redis, s3, { config });
}

async function curl(...args: string[]) {
  return await run("curl", ["--silent", "--show-error", "--disable-epsv", ...args]);
}

async function loginCode(node: FleetNode, user: string, password: string): Promise<number> {
  using client = await RawFtpClient.connect(node.addr);
  if (client.greeting.code !== 220) return client.greeting.code;
  await client.send(`USER ${user}`);
  return (await client.send(`PASS ${password}`)).code;
}

async function metric(node: FleetNode, name: string): Promise<string> {
  const { text } = await node.http("/metrics");
  return text.split("\n").find((line) => line.startsWith(name)) ?? "";
}

const DEADLINE = 120_000;

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65_536)));
  }
  return bytes;
}

test({
  name: "fleet: a file stored through node A is listed and downloaded through node B at once",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using nodes = await fleet();
    const [a, b] = nodes.nodes;
    const content = randomBytes(300_000);
    const local = `${nodes.dir}/upload.bin`;
    await Deno.writeFile(local, content);
    const stored = await curl("-T", local, `${a.url("bob")}shared.bin`);
    assert.equal(stored.code, 0, stored.stderr);
    const listed = await curl("--list-only", b.url("bob"));
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^shared\.bin\r?$/m);
    const fetched = `${nodes.dir}/download.bin`;
    const got = await curl("-o", fetched, `${b.url("bob")}shared.bin`);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(await Deno.readFile(fetched), content);
    assert.equal(
      await metric(a, 'exftp_shared_state{mode="shared"}'),
      'exftp_shared_state{mode="shared"} 1',
    );
  },
});

test({
  name:
    "fleet: failed logins through A ban the address on B; per-IP and per-user limits hold across nodes",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using nodes = await fleet(
      "ban_after_failures: 3\nmax_login_failures: 10\nmax_sessions_per_ip: 3\nmax_sessions_per_user: 1",
    );
    const [a, b] = nodes.nodes;
    // Per user: bob on A, then bob on B is refused; carol is not bob.
    using bobOnA = await RawFtpClient.connect(a.addr);
    await bobOnA.login("bob", FLEET_USERS.bob);
    using bobOnB = await RawFtpClient.connect(b.addr);
    await bobOnB.send("USER bob");
    const refused = await bobOnB.send(`PASS ${FLEET_USERS.bob}`);
    assert.equal(refused.code, 421, refused.text);
    assert.match(refused.text, /too many sessions/i);
    // Per IP: bobOnA holds one slot (bobOnB was closed); two more, the fourth is refused.
    using second = await RawFtpClient.connect(b.addr);
    using third = await RawFtpClient.connect(a.addr);
    assert.equal(second.greeting.code, 220);
    assert.equal(third.greeting.code, 220);
    using fourth = await RawFtpClient.connect(b.addr);
    assert.equal(fourth.greeting.code, 421);
    assert.match(fourth.greeting.text, /from your address/);
    // Ban: three failures through A (on a session already open)...
    for (let i = 0; i < 3; i++) {
      await third.send("USER carol");
      assert.equal((await third.send("PASS wrong")).code, 530);
    }
    // ...and B refuses the address, at its open sessions too.
    assert.equal((await second.send("USER carol")).code, 421);
    bobOnA.conn.close();
    third.conn.close();
    await eventually("B to refuse the banned address at connect", async () => {
      using client = await RawFtpClient.connect(b.addr);
      return client.greeting.code === 421 && /failed logins/.test(client.greeting.text);
    });
  },
});

test({
  name:
    "fleet: node A killed mid-download; the client finishes the file through B with REST, and A's sessions stop counting after their TTL",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using nodes = await fleet("max_sessions_per_user: 3");
    const [a, b] = nodes.nodes;
    // Larger than what loopback socket buffers hold (~10 MB), so A still has
    // bytes to send when it dies.
    const content = randomBytes(24_000_000);
    const local = `${nodes.dir}/big.bin`;
    await Deno.writeFile(local, content);
    assert.equal((await curl("-T", local, `${b.url("carol")}big.bin`)).code, 0);
    // carol holds a second session on A, idle: it must stop counting once A is dead.
    using idle = await RawFtpClient.connect(a.addr);
    await idle.login("carol", FLEET_USERS.carol);
    const partial = `${nodes.dir}/partial.bin`;
    const download = curl("--limit-rate", "4M", "-o", partial, `${a.url("carol")}big.bin`);
    await eventually("part of the file to arrive", async () => {
      try {
        return (await Deno.stat(partial)).size > 1_000_000;
      } catch {
        return false;
      }
    });
    await a.kill();
    const broken = await download;
    assert.notEqual(broken.code, 0, "the download through A broke");
    const got = (await Deno.stat(partial)).size;
    assert.ok(got > 0 && got < content.length, `a part arrived (${got} bytes)`);
    // A's two sessions still count for up to slot_ttl_s (3 s): with one on B,
    // carol is at her limit of three...
    using onB = await RawFtpClient.connect(b.addr);
    await onB.login("carol", FLEET_USERS.carol);
    assert.equal(await loginCode(b, "carol", FLEET_USERS.carol), 421);
    onB.conn.close();
    // ...but the client reconnects through B and resumes: curl sends REST with the size it has.
    const resumed = await curl("-C", "-", "-o", partial, `${b.url("carol")}big.bin`);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(await Deno.readFile(partial), content);
    // Nobody renews A's slots: once they expire, two more sessions of carol fit on B.
    using again = await RawFtpClient.connect(b.addr);
    await again.login("carol", FLEET_USERS.carol);
    await eventually(
      "A's slots to expire",
      async () => await loginCode(b, "carol", FLEET_USERS.carol) === 230,
      10_000,
    );
  },
});

test({
  name:
    "fleet: Redis stopped and started mid-test; both nodes keep serving, then share state again",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    const { redis } = await services();
    await using nodes = await fleet(
      "ban_after_failures: 2\nmax_login_failures: 10\nmax_sessions_per_user: 1",
    );
    const [a, b] = nodes.nodes;
    // bob holds a session on A across the outage.
    using bobOnA = await RawFtpClient.connect(a.addr);
    await bobOnA.login("bob", FLEET_USERS.bob);
    await redis.stop();
    try {
      // Both serve: logins and transfers work, limits are local meanwhile.
      assert.equal(
        await loginCode(b, "bob", FLEET_USERS.bob),
        230,
        "B serves bob from local state",
      );
      const local = `${nodes.dir}/during.txt`;
      await Deno.writeTextFile(local, "written while Redis was down\n");
      assert.equal((await curl("-T", local, `${a.url("carol")}during.txt`)).code, 0);
      const listed = await curl("--list-only", b.url("carol"));
      assert.match(listed.stdout, /during\.txt/);
      for (const node of [a, b]) {
        await eventually("the node to say it is degraded", async () => {
          const health = await node.http("/healthz");
          return health.status === 200 && /degraded/.test(health.text);
        });
        assert.equal(
          await metric(node, 'exftp_shared_state{mode="degraded"}'),
          'exftp_shared_state{mode="degraded"} 1',
        );
      }
      await a.cli.waitForOutput(/Shared state unreachable/);
    } finally {
      await redis.start();
    }
    for (const node of [a, b]) {
      await eventually(
        "the node to use Redis again",
        async () => (await metric(node, 'exftp_shared_state{mode="shared"}')).endsWith(" 1"),
      );
    }
    await b.cli.waitForOutput(/Shared state reachable again/);
    // A re-registered bob's session in the emptied Redis: B refuses a second one.
    assert.equal(await loginCode(b, "bob", FLEET_USERS.bob), 421);
    // And bans are shared again.
    for (let i = 0; i < 2; i++) assert.equal(await loginCode(a, "carol", "wrong"), 530);
    assert.equal(await loginCode(b, "carol", FLEET_USERS.carol), 421);
  },
});

test({
  name:
    "fleet: SIGTERM drains a node: /healthz 503 at once, new connections refused, the running download finishes",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using nodes = await fleet("shutdown_grace_s: 30");
    const [a] = nodes.nodes;
    // Larger than what loopback socket buffers hold: the transfer is still
    // running on the server when SIGTERM comes.
    const content = randomBytes(16_000_000);
    const local = `${nodes.dir}/drain.bin`;
    await Deno.writeFile(local, content);
    assert.equal((await curl("-T", local, `${a.url("bob")}drain.bin`)).code, 0);
    const fetched = `${nodes.dir}/drained.bin`;
    const download = curl("--limit-rate", "4M", "-o", fetched, `${a.url("bob")}drain.bin`);
    await eventually("the download to start", async () => {
      try {
        return (await Deno.stat(fetched)).size > 0;
      } catch {
        return false;
      }
    });
    a.cli.child.kill("SIGTERM");
    await eventually(
      "/healthz to answer 503",
      async () => (await a.http("/healthz")).status === 503,
      2000,
    );
    await assert.rejects(Deno.connect(a.addr), "new connections are refused");
    const done = await download;
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(await Deno.readFile(fetched), content);
    assert.equal((await a.stop()).code, 0);
  },
});

test({
  name: "fleet: (stop redis-server and s3rver)",
  ignore,
  async fn() {
    await shared?.redis.stop();
    await shared?.s3[Symbol.asyncDispose]();
  },
});
