/**
 * The fleet test of issue 13: HAProxy (`examples/haproxy_fleet.cfg`) in front
 * of two exftp CLI nodes with PROXY v2 on control and data connections, one
 * real redis-server, one s3rver bucket, and real clients — curl, lftp and
 * Python's ftplib — dialing only the balancer, each from a 127.0.0.x address
 * of its own, so the nodes tell them apart by the headers alone. Each test
 * starts its own nodes and HAProxy; Redis and s3rver are shared by the file.
 */

import assert from "node:assert/strict";
import { test } from "../deadline.ts";
import { hasCommand, randomBytes, sha256 } from "../helpers.ts";
import { run } from "../integration/_clients.ts";
import { type S3rver, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import {
  type BalancedFleet,
  BALANCER,
  FRONT,
  NODE_NAMES,
  refusals,
  startBalancedFleet,
} from "./balancer.ts";
import { eventually, FLEET_USERS } from "./fleet.ts";
import { type Ftplib, type FtplibSession, isSession, type Reply, startFtplib } from "./ftplib.ts";
import { type RedisServer, redisUnavailable, startRedis } from "./redis_server.ts";

const unavailable = redisUnavailable() ?? s3rverUnavailable();
const ignore = unavailable !== undefined || !hasCommand("haproxy") || !hasCommand("curl") ||
  !hasCommand("lftp") || !hasCommand("python3");

/** Two ftplib clients and curl and lftp, each on an address of its own. */
const X = "127.0.0.41";
const Y = "127.0.0.42";
const CURL_FROM = "127.0.0.43";
const LFTP_FROM = "127.0.0.44";

let shared: { redis: RedisServer; s3: S3rver } | undefined;
async function services() {
  shared ??= await (async () => {
    const [redis, s3] = await Promise.all([startRedis(), startS3rver("exftp-balancer")]);
    return { redis, s3 };
  })();
  return shared;
}

async function balancedFleet(config = ""): Promise<BalancedFleet> {
  const { redis, s3 } = await services();
  return await startBalancedFleet(redis, s3, config);
}

/** The greeting's node name in a client's verbose output. */
function servedBy(output: string): string | undefined {
  return /220 Hello from ([\w-]+)\./.exec(output)?.[1];
}

/** curl from its own address through the balancer, verbose (to see which node greeted). */
async function curl(setup: BalancedFleet, user: keyof typeof FLEET_USERS, ...args: string[]) {
  const last = args.pop()!;
  return await run("curl", [
    "-sS",
    "-v",
    "--max-time",
    "20",
    "--interface",
    CURL_FROM,
    "-u",
    `${user}:${FLEET_USERS[user]}`,
    ...args,
    `ftp://${FRONT}:${setup.port}/${last}`,
  ], { timeoutMs: 30_000 });
}

/** Connect an ftplib client from `source` to node `index` (steered through the balancer). */
async function sessionOn(
  setup: BalancedFleet,
  client: Ftplib,
  source: string,
  index: 0 | 1,
): Promise<FtplibSession> {
  await setup.steer(index);
  const session = await client.connect(source);
  assert.ok(isSession(session), `${source} refused: ${(session as Reply).text}`);
  assert.equal(servedBy(session.greeting.text), NODE_NAMES[index], session.greeting.text);
  return session;
}

/** Connect from `source` to node `index`, expecting a refusal (421) logged by that node. */
async function refusedOn(
  setup: BalancedFleet,
  client: Ftplib,
  source: string,
  index: 0 | 1,
  reason: RegExp,
): Promise<void> {
  const before = refusals(setup.nodes[index], source).length;
  await setup.steer(index);
  const refused = await client.connect(source);
  if (isSession(refused)) {
    await refused.close();
    assert.fail(`${source} was accepted: ${refused.greeting.text}`);
  }
  assert.equal(refused.code, 421, refused.text);
  assert.match(refused.text, reason);
  await eventually(`node ${index} to log the refusal`, async () => {
    await Promise.resolve();
    return refusals(setup.nodes[index], source).length > before;
  }, 5000);
}

/** The port of a 227 reply. */
function pasvPortOf(reply: string): number {
  const [, high, low] = /,(\d+),(\d+)\)/.exec(reply)!;
  return Number(high) * 256 + Number(low);
}

const DEADLINE = 60_000;

test({
  name: "fleet behind HAProxy: a file stored through node A is listed and downloaded " +
    "through node B at once (ftplib, curl, lftp)",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using setup = await balancedFleet();
    await using client = startFtplib(FRONT, setup.port);
    const content = randomBytes(300_000);
    const local = `${setup.fleet.dir}/upload.bin`;
    await Deno.writeFile(local, content);
    // ftplib stores it through A (PASV: the data connection goes to A's passive range).
    const onA = await sessionOn(setup, client, X, 0);
    assert.equal((await onA.login("carol", FLEET_USERS.carol)).code, 230);
    // A advertises the balancer's address (the header's destination) and a port of its own range.
    const pasv = (await onA.send("PASV")).text;
    assert.match(pasv, new RegExp(`\\(${FRONT.replaceAll(".", ",")},`));
    const port = pasvPortOf(pasv);
    const [first, last] = setup.passivePorts[0];
    assert.ok(port >= first && port <= last, `${port} in A's range ${first}-${last}`);
    assert.equal((await onA.store("shared.bin", local)).code, 226);
    // The passive check compares each data connection's header with the session's client: a
    // stranger (Y) dialing X's port through the balancer first gets nothing and is closed (at
    // once, or when the session takes its connection); X's own connection carries the listing.
    const pasvPort = pasvPortOf((await onA.send("PASV")).text);
    const stranger = await client.dial(Y, pasvPort, 0.3);
    const own = await client.dial(X, pasvPort, 0.3);
    assert.notEqual(own, "closed", "X's data connection is held for X's session");
    assert.match((await onA.send("NLST")).text, /^150 /);
    if (own !== "closed") assert.match(await own(), /^shared\.bin\r\n$/);
    if (stranger !== "closed") assert.equal(await stranger(), "", "the stranger got nothing");
    assert.match((await onA.response()).text, /^226 /);
    await onA.close();
    // curl lists and downloads it through B (EPSV, its default), the moment A has answered.
    await setup.steer(1);
    const listed = await curl(setup, "carol", "-l", "");
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(servedBy(listed.stderr), "node-b", listed.stderr);
    assert.match(listed.stdout, /^shared\.bin\r?$/m);
    await setup.steer(1);
    const fetched = `${setup.fleet.dir}/curl.bin`;
    const got = await curl(setup, "carol", "--disable-epsv", "-o", fetched, "shared.bin");
    assert.equal(got.code, 0, got.stderr);
    assert.equal(servedBy(got.stderr), "node-b", got.stderr);
    assert.equal(await sha256(await Deno.readFile(fetched)), await sha256(content));
    // lftp too, through B.
    await setup.steer(1);
    const lftp = await run("lftp", [
      "-d",
      "-c",
      [
        "set ftp:ssl-allow no",
        "set net:max-retries 1",
        "set net:timeout 15",
        "set xfer:clobber yes",
        `set net:socket-bind-ipv4 ${LFTP_FROM}`,
        `open -u bob,${FLEET_USERS.bob} -p ${setup.port} ${FRONT}`,
        `get shared.bin -o ${setup.fleet.dir}/lftp.bin`,
      ].join("; "),
    ], { timeoutMs: 30_000 });
    assert.equal(lftp.code, 0, lftp.stderr);
    assert.equal(servedBy(lftp.stderr), "node-b", lftp.stderr);
    assert.equal(
      await sha256(await Deno.readFile(`${setup.fleet.dir}/lftp.bin`)),
      await sha256(content),
    );
    // The nodes knew every session by its client's address (the probes that steer the round
    // robin come from the balancer's own address, 127.0.0.1).
    const clients = new Set(
      setup.nodes.flatMap((node) =>
        node.cli.stderr().split("\n").filter((line) => line.includes('"Connected"'))
          .map((line) => JSON.parse(line).client)
      ),
    );
    assert.deepEqual([...clients].sort(), [BALANCER, X, CURL_FROM, LFTP_FROM].sort());
  },
});

test({
  name: "fleet behind HAProxy: per-address and per-user limits and bans hold across both nodes, " +
    "and two clients named by PROXY headers are limited and banned separately",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using setup = await balancedFleet(
      "ban_after_failures: 3\nmax_login_failures: 10\nmax_sessions_per_ip: 2\n" +
        "max_sessions_per_user: 1",
    );
    await using client = startFtplib(FRONT, setup.port);
    // Per user: bob on A from X; bob on B from X, or from Y, is refused.
    const xOnA = await sessionOn(setup, client, X, 0);
    assert.equal((await xOnA.login("bob", FLEET_USERS.bob)).code, 230);
    const xOnB = await sessionOn(setup, client, X, 1);
    assert.match((await xOnB.login("bob", FLEET_USERS.bob)).text, /^421 .*too many sessions/i);
    await xOnB.close();
    const yOnB = await sessionOn(setup, client, Y, 1);
    assert.match((await yOnB.login("bob", FLEET_USERS.bob)).text, /^421 .*too many sessions/i);
    await yOnB.close();

    // Per address (2): X holds one session on each node; a third is refused by either node...
    const xOnB2 = await eventuallySession(setup, client, X, 1);
    for (const index of [0, 1] as const) {
      await refusedOn(setup, client, X, index, /Too many connections from your address/);
    }
    // ...while Y, through the same balancer, opens two of its own.
    const yOnA = await sessionOn(setup, client, Y, 0);
    const yOnB2 = await sessionOn(setup, client, Y, 1);
    assert.equal((await yOnA.login("carol", FLEET_USERS.carol)).code, 230);

    // Bans (3 failures): X fails logins through A (its session on B stays open)...
    await xOnA.close();
    const failing = await eventuallySession(setup, client, X, 0);
    for (let i = 0; i < 2; i++) {
      assert.equal((await failing.login("carol", "wrong")).code, 530);
    }
    assert.match((await failing.login("carol", "wrong")).text, /^(530|421)/);
    await failing.close();
    // ...and B (and A) refuse X at connect, and X's open session on B at its next USER...
    for (const index of [1, 0] as const) {
      await refusedOn(setup, client, X, index, /failed logins/);
    }
    assert.match((await xOnB2.send("USER carol")).text, /^421 .*failed logins/);
    await xOnB2.close();
    // ...but not Y: its open session on B works, and it logs in anew on B.
    assert.equal((await yOnB2.send("NOOP")).code, 200);
    await yOnA.close();
    const yAgain = await sessionOn(setup, client, Y, 1);
    assert.equal((await yAgain.login("bob", FLEET_USERS.bob)).code, 230);
    await yAgain.close();
    await yOnB2.close();
  },
});

/**
 * A session from `source` on node `index`, retried while its previous
 * session's slot is still being given back (the close is asynchronous).
 */
async function eventuallySession(
  setup: BalancedFleet,
  client: Ftplib,
  source: string,
  index: 0 | 1,
): Promise<FtplibSession> {
  let session: FtplibSession | undefined;
  await eventually(`a session from ${source} on ${NODE_NAMES[index]}`, async () => {
    await setup.steer(index);
    const attempt = await client.connect(source);
    if (!isSession(attempt)) return false;
    assert.equal(servedBy(attempt.greeting.text), NODE_NAMES[index], attempt.greeting.text);
    session = attempt;
    return true;
  }, 5000);
  return session!;
}

test({
  name: "fleet behind HAProxy: node A killed mid-download; curl reconnects through the " +
    "balancer to B and finishes with REST; A's sessions stop counting after their TTL",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using setup = await balancedFleet("max_sessions_per_user: 3");
    await using client = startFtplib(FRONT, setup.port);
    const [a] = setup.nodes;
    // Larger than what loopback socket buffers hold, so A still has bytes to send when it dies.
    const content = randomBytes(24_000_000);
    const local = `${setup.fleet.dir}/big.bin`;
    await Deno.writeFile(local, content);
    assert.equal((await curl(setup, "carol", "-T", local, "big.bin")).code, 0);
    // carol holds a second session on A, idle: it must stop counting once A is dead.
    const idle = await sessionOn(setup, client, Y, 0);
    assert.equal((await idle.login("carol", FLEET_USERS.carol)).code, 230);
    const partial = `${setup.fleet.dir}/partial.bin`;
    await setup.steer(0);
    const download = curl(setup, "carol", "--limit-rate", "4M", "-o", partial, "big.bin");
    await eventually("part of the file to arrive", async () => {
      try {
        return (await Deno.stat(partial)).size > 1_000_000;
      } catch {
        return false;
      }
    });
    await a.kill();
    // At once (curl still drains what HAProxy and the sockets buffered, up to ~2.5 s at 4 MB/s):
    // A's two sessions still count for up to slot_ttl_s (3 s), so with one on B carol is at
    // her limit of three. The next client lands on B although HAProxy hasn't marked A down.
    // (Of two connections in a row the round robin sends one to A: both must reach B.)
    const onB = await client.connect(X);
    assert.ok(isSession(onB), (onB as Reply).text);
    assert.equal(servedBy(onB.greeting.text), "node-b", "HAProxy skips the dead node");
    assert.equal((await onB.login("carol", FLEET_USERS.carol)).code, 230);
    const fourth = await client.connect(X);
    assert.ok(isSession(fourth), (fourth as Reply).text);
    assert.equal(servedBy(fourth.greeting.text), "node-b", "HAProxy skips the dead node");
    assert.match((await fourth.login("carol", FLEET_USERS.carol)).text, /^421 /);
    await fourth.close();
    await onB.close();
    const broken = await download;
    assert.notEqual(broken.code, 0, "the download through A broke");
    assert.equal(servedBy(broken.stderr), "node-a", broken.stderr);
    const got = (await Deno.stat(partial)).size;
    assert.ok(got > 0 && got < content.length, `a part arrived (${got} bytes)`);
    // ...but curl reconnects through the balancer, lands on B and resumes: REST <its size>.
    const resumed = await curl(setup, "carol", "-C", "-", "-o", partial, "big.bin");
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(servedBy(resumed.stderr), "node-b", resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`> REST ${got}\\b`));
    assert.equal(await sha256(await Deno.readFile(partial)), await sha256(content));
    // Nobody renews A's slots: once they expire, two more sessions of carol fit on B.
    const again = await client.connect(X);
    assert.ok(isSession(again), (again as Reply).text);
    assert.equal((await again.login("carol", FLEET_USERS.carol)).code, 230);
    await eventually("A's slots to expire", async () => {
      const next = await client.connect(X);
      if (!isSession(next)) return false;
      const code = (await next.login("carol", FLEET_USERS.carol)).code;
      await next.close();
      return code === 230;
    }, 10_000);
    await again.close();
    // Meanwhile HAProxy's health check (/healthz) has taken A out.
    await eventually("HAProxy to mark A down", async () => {
      await Promise.resolve();
      return /exftp_control\/node1 is DOWN/.test(setup.haproxyLog());
    }, 10_000);
  },
});

test({
  name: "fleet behind HAProxy: Redis stopped and started mid-test; both nodes keep serving " +
    "through the balancer, then share state again",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    const { redis } = await services();
    await using setup = await balancedFleet(
      "ban_after_failures: 2\nmax_login_failures: 10\nmax_sessions_per_user: 1",
    );
    await using client = startFtplib(FRONT, setup.port);
    const [a, b] = setup.nodes;
    // X holds bob's session on A across the outage.
    const bobOnA = await sessionOn(setup, client, X, 0);
    assert.equal((await bobOnA.login("bob", FLEET_USERS.bob)).code, 230);
    await redis.stop();
    try {
      // Both serve: bob logs in on B (limits are per node meanwhile), files go through A to B.
      const bobOnB = await sessionOn(setup, client, Y, 1);
      assert.equal((await bobOnB.login("bob", FLEET_USERS.bob)).code, 230);
      await bobOnB.close();
      const local = `${setup.fleet.dir}/during.txt`;
      await Deno.writeTextFile(local, "written while Redis was down\n");
      const carolOnA = await sessionOn(setup, client, Y, 0);
      assert.equal((await carolOnA.login("carol", FLEET_USERS.carol)).code, 230);
      assert.equal((await carolOnA.store("during.txt", local)).code, 226);
      await carolOnA.close();
      await setup.steer(1);
      const listed = await curl(setup, "carol", "-l", "");
      assert.equal(servedBy(listed.stderr), "node-b", listed.stderr);
      assert.match(listed.stdout, /during\.txt/);
      for (const node of [a, b]) {
        await eventually("the node to say it is degraded", async () => {
          const health = await node.http("/healthz");
          return health.status === 200 && /degraded/.test(health.text);
        });
      }
      // HAProxy still sends clients to both (their /healthz stays 200).
      assert.doesNotMatch(setup.haproxyLog(), /is DOWN/);
    } finally {
      await redis.start();
    }
    for (const node of [a, b]) {
      await eventually("the node to use Redis again", async () => {
        const { text } = await node.http("/metrics");
        return /^exftp_shared_state\{mode="shared"\} 1$/m.test(text);
      });
    }
    // A put bob's session back into the emptied Redis: B refuses a second one.
    const bobAgain = await sessionOn(setup, client, Y, 1);
    assert.match((await bobAgain.login("bob", FLEET_USERS.bob)).text, /^421 .*too many sessions/i);
    await bobAgain.close();
    // And bans are shared again: Y fails twice through A, B refuses Y, X is still welcome.
    const failing = await eventuallySession(setup, client, Y, 0);
    assert.equal((await failing.login("carol", "wrong")).code, 530);
    assert.match((await failing.login("carol", "wrong")).text, /^(530|421)/);
    await failing.close();
    await refusedOn(setup, client, Y, 1, /failed logins/);
    const xOnB = await sessionOn(setup, client, X, 1);
    assert.equal((await xOnB.login("carol", FLEET_USERS.carol)).code, 230);
    await xOnB.close();
    await bobOnA.close();
  },
});

test({
  name: "fleet behind HAProxy: SIGTERM drains node A: new clients go to B at once, HAProxy " +
    "takes A out on its /healthz 503, and A's running download finishes",
  ignore,
  deadlineMs: DEADLINE,
  async fn() {
    await using setup = await balancedFleet("shutdown_grace_s: 30");
    await using client = startFtplib(FRONT, setup.port);
    const [a] = setup.nodes;
    // Larger than what the sockets and HAProxy buffer: A is still sending when SIGTERM comes.
    const content = randomBytes(16_000_000);
    const local = `${setup.fleet.dir}/drain.bin`;
    await Deno.writeFile(local, content);
    assert.equal((await curl(setup, "bob", "-T", local, "drain.bin")).code, 0);
    const fetched = `${setup.fleet.dir}/drained.bin`;
    await setup.steer(0);
    const download = curl(setup, "bob", "--limit-rate", "4M", "-o", fetched, "drain.bin");
    await eventually("the download to start", async () => {
      try {
        return (await Deno.stat(fetched)).size > 0;
      } catch {
        return false;
      }
    });
    a.cli.child.kill("SIGTERM");
    await eventually("A to answer /healthz with 503", async () => {
      // A pooled keep-alive connection may be closed just as it is reused: ask again.
      const answer = await a.http("/healthz").catch(() => undefined);
      return answer?.status === 503;
    }, 2000);
    // Two clients in a row (the round robin sends one of them to A): both are served by B.
    for (let i = 0; i < 2; i++) {
      const session = await client.connect(X);
      assert.ok(isSession(session), (session as Reply).text);
      assert.equal(servedBy(session.greeting.text), "node-b", session.greeting.text);
      await session.close();
    }
    await eventually("HAProxy to take A out", async () => {
      await Promise.resolve();
      return /exftp_control\/node1 is DOWN/.test(setup.haproxyLog());
    }, 10_000);
    const done = await download;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(servedBy(done.stderr), "node-a", done.stderr);
    assert.equal(await sha256(await Deno.readFile(fetched)), await sha256(content));
    assert.equal((await a.stop()).code, 0);
  },
});

test({
  name: "fleet behind HAProxy: (stop redis-server and s3rver)",
  ignore,
  async fn() {
    await shared?.redis.stop();
    await shared?.s3[Symbol.asyncDispose]();
  },
});
