/**
 * Bandwidth limits: the token bucket on its own (pace, abort, no timer left),
 * then real clients: curl measures a throttled download and upload within
 * 10 % of the limit on the file, memory and S3 (s3rver) connectors, two
 * sessions of one user share one budget, the server-wide default applies to
 * users without one, and STAT and ABOR are answered at once mid-throttle.
 */

import assert from "node:assert/strict";
import {
  type Authenticator,
  type Credentials,
  FileStorage,
  type FtpUser,
  MemoryStorage,
  type StorageConnector,
} from "../../mod.ts";
import { TokenBucket } from "../../src/policy/bandwidth.ts";
import { S3Storage } from "../../src/storage/s3/mod.ts";
import { hasCommand, randomBytes, startServer, type TestServer } from "../helpers.ts";
import { runOk, tempDir } from "../integration/_clients.ts";
import { s3rverClient, s3rverUnavailable, startS3rver } from "../s3rver.ts";

const KIB = 1024;
const RATE = 512 * KIB;
const noCurl = !hasCommand("curl");

Deno.test("A token bucket paces takes at its rate, holding at most 100 ms worth", async () => {
  const bucket = new TokenBucket(1_000_000);
  assert.equal(bucket.burst, 100_000);
  const started = performance.now();
  assert.equal(bucket.chunk, 25_000);
  // It starts with one chunk (25 000 bytes); the other 575 000 take 575 ms.
  for (let i = 0; i < 6; i++) await bucket.take(100_000);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 560 && elapsed < 720, `6 takes of 100 kB at 1 MB/s: ${elapsed} ms`);
});

Deno.test("Waiters of a bucket are served in turn; an aborted wait ends at once", async () => {
  const bucket = new TokenBucket(100);
  await bucket.take(bucket.burst);
  const order: string[] = [];
  const first = bucket.take(bucket.burst).then(() => order.push("first"));
  const controller = new AbortController();
  const aborted = bucket.take(bucket.burst, controller.signal);
  const third = bucket.take(bucket.burst).then(() => order.push("third"));
  const started = performance.now();
  controller.abort(new Error("ABOR"));
  await assert.rejects(aborted, /ABOR/);
  assert.ok(performance.now() - started < 20, "the abort did not wait for tokens");
  await Promise.all([first, third]);
  assert.deepEqual(order, ["first", "third"]);
  // The sanitizer fails the test if a timer were left running now that none waits.
});

/** Users with budgets; the rest get the server's defaults. */
class ProfileAuthenticator implements Authenticator {
  authenticate({ username }: Credentials): Promise<FtpUser | null> {
    const profiles: Record<string, Partial<FtpUser>> = {
      slow: { downloadBytesPerS: RATE, uploadBytesPerS: RATE },
    };
    return Promise.resolve({ username, ...profiles[username] });
  }
}

interface Measured {
  bytes: number;
  seconds: number;
}

async function curlDownload(ts: TestServer, user: string, path: string): Promise<Measured> {
  const { stdout } = await runOk("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{size_download} %{time_total}",
    `ftp://${user}:pw@127.0.0.1:${ts.addr.port}${path}`,
  ]);
  const [bytes, seconds] = stdout.trim().split(" ").map(Number);
  return { bytes, seconds };
}

async function curlUpload(ts: TestServer, user: string, path: string, file: string) {
  const { stdout } = await runOk("curl", [
    "-sS",
    "-T",
    file,
    "-w",
    "%{size_upload} %{time_total}",
    `ftp://${user}:pw@127.0.0.1:${ts.addr.port}${path}`,
  ]);
  const [bytes, seconds] = stdout.trim().split(" ").map(Number);
  return { bytes, seconds };
}

function offBy(rate: number, limit: number, what: string): string | undefined {
  const error = (rate - limit) / limit;
  if (Math.abs(error) < 0.10) return undefined;
  return `${what}: ${Math.round(rate)} B/s for a limit of ${limit} (${
    (error * 100).toFixed(1)
  } % off)`;
}

/**
 * Measure with `measure` (resolving with the rate) and require it within
 * 10 % of `limit`. Faster is a throttle bug and fails at once. Slower is
 * measured once more: in the full parallel suite on a loaded 2-core machine,
 * a starved event loop once made one upload 28 % slow while the same test
 * alone, at a load average of 15, stayed within 3 %; a slow throttle would be
 * slow twice.
 */
async function assertNear(
  measure: () => Promise<number>,
  limit: number,
  what: string,
): Promise<void> {
  const first = await measure();
  assert.ok(first < limit * 1.10, offBy(first, limit, what));
  const problem = offBy(first, limit, what);
  if (!problem) return;
  console.warn(`${problem}; measuring again`);
  const second = await measure();
  const again = offBy(second, limit, what);
  assert.ok(!again, `${problem}, then ${again}`);
}

async function bandwidthSteps(t: Deno.TestContext, storage: StorageConnector) {
  await using ts = await startServer({ storage, authenticator: new ProfileAuthenticator() });
  await using local = await tempDir();
  const size = 3 * RATE / 2;
  await storage.write(
    "/big.bin",
    new Blob([randomBytes(size) as Uint8Array<ArrayBuffer>]).stream(),
  );

  await t.step("curl measures a throttled download within 10 % of the limit", async () => {
    await assertNear(
      async () => {
        const { bytes, seconds } = await curlDownload(ts, "slow", "/big.bin");
        assert.equal(bytes, size);
        return bytes / seconds;
      },
      RATE,
      "download",
    );
  });

  await t.step("two sessions of one user share the budget", async () => {
    await assertNear(
      async () => {
        const started = performance.now();
        const both = await Promise.all([
          curlDownload(ts, "slow", "/big.bin"),
          curlDownload(ts, "slow", "/big.bin"),
        ]);
        const seconds = (performance.now() - started) / 1000;
        for (const one of both) assert.ok(one.seconds > 0.8 * 2 * size / RATE, "each had half");
        return (both[0].bytes + both[1].bytes) / seconds;
      },
      RATE,
      "two downloads together",
    );
  });

  await t.step("curl measures a throttled upload within 10 % of the limit", async () => {
    const file = `${local.path}/up.bin`;
    await Deno.writeFile(file, randomBytes(size));
    await assertNear(
      async () => {
        const { bytes, seconds } = await curlUpload(ts, "slow", "/up.bin", file);
        assert.equal(bytes, size);
        return bytes / seconds;
      },
      RATE,
      "upload",
    );
    assert.equal((await storage.stat("/up.bin")).size, size);
  });

  await t.step("another user without a budget is not slowed", async () => {
    const { bytes, seconds } = await curlDownload(ts, "fast", "/big.bin");
    // Throttled, it would take 1.5 s; curl's own start-up counts too, on a busy machine.
    assert.equal(bytes, size);
    assert.ok(seconds < 0.6 * size / RATE, `${seconds} s for ${bytes} bytes`);
  });
}

Deno.test({
  name: "Bandwidth over the file connector (curl)",
  ignore: noCurl,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "exftp-bandwidth-" });
    try {
      await bandwidthSteps(t, new FileStorage({ root }));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "Bandwidth over the memory connector (curl)",
  ignore: noCurl,
  async fn(t) {
    await bandwidthSteps(t, new MemoryStorage());
  },
});

const s3Unavailable = s3rverUnavailable();
Deno.test({
  name: `Bandwidth over the s3 connector (s3rver, curl)${
    s3Unavailable ? ` (ignored: ${s3Unavailable})` : ""
  }`,
  ignore: noCurl || s3Unavailable !== undefined,
  async fn(t) {
    await using s3 = await startS3rver();
    const client = s3rverClient(s3);
    try {
      await bandwidthSteps(t, new S3Storage({ bucket: s3.bucket, prefix: "bw", client }));
    } finally {
      client.destroy();
    }
  },
});

Deno.test("The server-wide default throttles; STAT and ABOR are answered at once mid-wait", async () => {
  const storage = new MemoryStorage();
  await storage.write(
    "/big.bin",
    new Blob([randomBytes(256 * KIB) as Uint8Array<ArrayBuffer>]).stream(),
  );
  // 16 KiB/s: the file would take 16 s, and each wait for tokens is 100 ms.
  await using ts = await startServer({ storage, downloadBytesPerS: 16 * KIB });
  const client = await ts.client("anyone");
  assert.equal((await client.send("TYPE I")).code, 200);
  const data: Deno.Conn = await client.passive();
  await client.write("RETR big.bin\r\n");
  assert.equal((await client.read()).code, 150);
  const buffer = new Uint8Array(64 * KIB);
  let received = 0;
  const started = performance.now();
  while (received < 8 * KIB) received += (await data.read(buffer)) ?? 0;
  const stat = performance.now();
  const status = await client.send("STAT");
  assert.equal(status.code, 213);
  assert.ok(performance.now() - stat < 500, "STAT waited for the throttle");
  assert.ok(
    performance.now() - started < 2000 && received < 64 * KIB,
    `throttled: ${received} bytes in ${performance.now() - started} ms`,
  );
  const abor = performance.now();
  await client.write("ABOR\r\n");
  const replies = [await client.read(), await client.read()];
  assert.deepEqual(replies.map((r) => r.code), [426, 226]);
  assert.ok(performance.now() - abor < 500, "ABOR waited for the throttle");
  data.close();
});
