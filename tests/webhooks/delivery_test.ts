/**
 * Event webhooks end to end: real clients (python3 ftplib, curl) against a
 * server whose events go to a real receiver (`Deno.serve`) that checks every
 * signature, goes down and comes back, or hangs.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { type EventWebhookOptions, silentLogger } from "../../mod.ts";
import {
  hasCommand,
  randomBytes,
  sha256,
  startServer,
  type TestServer,
  waitFor,
} from "../helpers.ts";
import { runOk } from "../integration/_clients.ts";
import { test } from "../deadline.ts";
import { type Received, type Receiver, startReceiver } from "./_receiver.ts";

const SECRET = "test-secret-do-not-use";
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

async function serverWithEvents(
  receiver: Receiver,
  events: Partial<EventWebhookOptions> = {},
): Promise<TestServer & { outbox: string }> {
  const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  const ts = await startServer({
    events: { url: receiver.url, secret: SECRET, outbox, retryDelayMs: 50, ...events },
    logger: silentLogger,
  });
  return {
    ...ts,
    outbox,
    async [Symbol.asyncDispose]() {
      await ts[Symbol.asyncDispose]();
      await Deno.remove(outbox, { recursive: true }).catch(() => {});
    },
  };
}

async function outboxFiles(folder: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) if (entry.isFile) names.push(entry.name);
  return names;
}

function byType(received: readonly Received[]): Map<string, Received[]> {
  const map = new Map<string, Received[]>();
  for (const r of received) {
    const type = String(r.event.type);
    map.set(type, [...(map.get(type) ?? []), r]);
  }
  return map;
}

const FTPLIB_SCRIPT = `
import ftplib, io, sys
port, data = int(sys.argv[1]), open(sys.argv[2], "rb").read()
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port)
ftp.login("alice", "any")
ftp.mkd("box")
ftp.storbinary("STOR box/in.bin", io.BytesIO(data))
out = io.BytesIO()
ftp.retrbinary("RETR box/in.bin", out.write)
assert out.getvalue() == data
ftp.rename("box/in.bin", "box/renamed.bin")
ftp.delete("box/renamed.bin")
ftp.rmd("box")
ftp.quit()
bad = ftplib.FTP()
bad.connect("127.0.0.1", port)
try:
    bad.login("root", "guess")
except ftplib.error_perm:
    print("refused")
bad.close()
`;

test({
  name:
    "ftplib's login, mkdir, upload, download, rename, delete, rmdir and a failed login each arrive once, signed, with their details; the upload only once stored",
  ignore: !hasCommand("python3"),
  async fn() {
    await using receiver = await startReceiver(SECRET);
    await using ts = await serverWithEvents(receiver);
    const bytes = randomBytes(300_000);
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, bytes);
    // The webhook enqueues from the server's transfer-complete event, dispatched
    // synchronously: what a listener reads there is what is stored when the
    // upload event is made.
    const storedAtEvent: Uint8Array[] = [];
    ts.server.addEventListener("transfer-complete", ({ detail }) => {
      if (detail.kind === "upload") {
        storedAtEvent.push(Deno.readFileSync(path.join(ts.root, detail.path)));
      }
    });
    try {
      const result = await runOk(PYTHON, ["-c", FTPLIB_SCRIPT, String(ts.addr.port), file]);
      assert.match(result.stdout, /refused/);
    } finally {
      await Deno.remove(file);
    }
    await waitFor(() => receiver.accepted.length >= 8, 10_000, "8 events");
    const events = byType(receiver.accepted);
    assert.deepEqual(
      [...events.keys()].sort(),
      ["delete", "download", "login", "login_failed", "mkdir", "rename", "rmdir", "upload"],
    );
    for (const received of receiver.accepted) {
      assert.ok(received.valid, `signature of ${received.body}`);
      assert.equal(received.headers.get("X-Exftp-Event"), received.event.type);
      assert.equal(received.headers.get("X-Exftp-Event-Id"), received.event.id);
      assert.equal(received.event.client, "127.0.0.1");
      assert.match(String(received.event.timestamp), /^\d{4}-\d\d-\d\dT.*Z$/);
    }
    assert.equal(new Set(receiver.accepted.map((r) => r.event.id)).size, 8, "unique ids");
    const one = (type: string) => {
      assert.equal(events.get(type)?.length, 1, type);
      return events.get(type)![0].event;
    };
    assert.deepEqual(
      [one("login").user, one("login").outcome, one("login_failed").user],
      ["alice", "ok", "root"],
    );
    assert.equal(one("login_failed").outcome, "failed");
    assert.deepEqual(
      [one("mkdir").path, one("mkdir").command, one("rmdir").path, one("rmdir").command],
      ["/box", "MKD", "/box", "RMD"],
    );
    const upload = one("upload");
    assert.deepEqual(
      [upload.user, upload.path, upload.bytes, upload.outcome, upload.command],
      ["alice", "/box/in.bin", 300_000, "ok", "STOR"],
    );
    assert.equal(typeof upload.duration_ms, "number");
    assert.equal(storedAtEvent.length, 1);
    assert.equal(await sha256(storedAtEvent[0]), await sha256(bytes));
    assert.deepEqual([one("download").path, one("download").bytes], ["/box/in.bin", 300_000]);
    assert.deepEqual(
      [one("rename").from, one("rename").path],
      ["/box/in.bin", "/box/renamed.bin"],
    );
    assert.equal(one("delete").path, "/box/renamed.bin");
    await waitFor(async () => (await outboxFiles(ts.outbox)).length === 0, 5000, "empty outbox");
  },
});

test({
  name:
    "a receiver that answers 503 for a while still gets every event after it comes back, each attempt the same body with a valid signature",
  ignore: !hasCommand("curl"),
  async fn() {
    await using receiver = await startReceiver(SECRET);
    await using ts = await serverWithEvents(receiver, { on: ["upload", "delete"] });
    receiver.mode = "unavailable";
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, randomBytes(50_000));
    const url = `ftp://127.0.0.1:${ts.addr.port}`;
    try {
      for (const name of ["a.bin", "b.bin", "c.bin"]) {
        await runOk("curl", ["-sS", "--user", "bob:x", "-T", file, `${url}/${name}`]);
      }
      await runOk("curl", ["-sS", "--user", "bob:x", url + "/", "-Q", "DELE a.bin"]);
    } finally {
      await Deno.remove(file);
    }
    // Every event refused at least twice, and kept in the outbox meanwhile.
    await waitFor(
      () => {
        const attempts = new Map<unknown, number>();
        for (const r of receiver.received) {
          attempts.set(r.event.id, (attempts.get(r.event.id) ?? 0) + 1);
        }
        return attempts.size === 4 && [...attempts.values()].every((n) => n >= 2);
      },
      15_000,
      "two failed attempts of each event",
    );
    assert.equal((await outboxFiles(ts.outbox)).length, 4);
    assert.equal(receiver.accepted.length, 0);
    receiver.mode = "ok";
    await waitFor(() => receiver.accepted.length >= 4, 20_000, "delivery after the outage");
    await waitFor(async () => (await outboxFiles(ts.outbox)).length === 0, 5000, "empty outbox");

    const ids = new Set(receiver.accepted.map((r) => r.event.id));
    assert.equal(ids.size, 4);
    assert.deepEqual(
      receiver.accepted.map((r) => `${r.event.type} ${r.event.path}`).sort(),
      ["delete /a.bin", "upload /a.bin", "upload /b.bin", "upload /c.bin"],
    );
    for (const id of ids) {
      const attempts = receiver.received.filter((r) => r.event.id === id);
      assert.ok(attempts.length >= 3, `${attempts.length} attempts of ${id}`);
      assert.equal(new Set(attempts.map((r) => r.body)).size, 1, "the same body every time");
      assert.ok(attempts.every((r) => r.valid), "a valid signature every time");
      assert.deepEqual(
        attempts.map((r) => Number(r.headers.get("X-Exftp-Attempt"))),
        attempts.map((_, i) => i + 1),
      );
    }
  },
});

test({
  name:
    "a webhook that never answers does not slow transfers (timed against a server without events) nor shutdown",
  ignore: !hasCommand("curl"),
  async fn() {
    await using receiver = await startReceiver(SECRET);
    receiver.mode = "hang";
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, randomBytes(8 << 20));
    const timeRound = async (ts: TestServer) => {
      const url = `ftp://127.0.0.1:${ts.addr.port}`;
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        await runOk("curl", ["-sS", "--user", "bob:x", "-T", file, `${url}/f${i}.bin`]);
        await runOk("curl", ["-sS", "--user", "bob:x", "-o", "/dev/null", `${url}/f${i}.bin`]);
      }
      return performance.now() - started;
    };
    try {
      await using plainServer = await startServer();
      const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
      try {
        const ts = await startServer({
          events: { url: receiver.url, secret: SECRET, outbox, timeoutMs: 60_000, concurrency: 2 },
        });
        // Alternate, best of two each: the first round warms caches for both.
        const plain: number[] = [];
        const hooked: number[] = [];
        for (let round = 0; round < 2; round++) {
          plain.push(await timeRound(plainServer));
          hooked.push(await timeRound(ts));
        }
        // 2 × (6 transfers + 6 logins) = 24 events; 2 requests hang, the rest wait in the outbox.
        await waitFor(() => receiver.received.length === 2, 5000, "two hanging requests");
        assert.equal((await outboxFiles(outbox)).length, 24);
        const closing = performance.now();
        await ts[Symbol.asyncDispose]();
        const closeMs = performance.now() - closing;
        const [best, bestHooked] = [Math.min(...plain), Math.min(...hooked)];
        console.log(
          `6 × 8 MiB curl transfers: ${best.toFixed(0)} ms without events, ` +
            `${bestHooked.toFixed(0)} ms with a hanging webhook; close ${closeMs.toFixed(0)} ms`,
        );
        assert.ok(bestHooked < best * 2 + 1000, `${bestHooked} ms vs ${best} ms`);
        assert.ok(closeMs < 3000, `close took ${closeMs} ms`);
        assert.equal((await outboxFiles(outbox)).length, 24, "undelivered events stay");
      } finally {
        await Deno.remove(outbox, { recursive: true });
      }
    } finally {
      await Deno.remove(file);
    }
  },
});
