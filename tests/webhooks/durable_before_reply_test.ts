/**
 * An upload's (or a delete's) event is in the outbox before the client hears
 * the outcome: a crash right after the 226 or 250 can't lose it.
 */

import assert from "node:assert/strict";
import { MemoryState, silentLogger } from "../../mod.ts";
import { startServer } from "../helpers.ts";
import { test } from "../deadline.ts";

/** The events in the outbox folder, read at once (nothing delivers them: no receiver). */
function outboxEvents(folder: string): { type: string; path: string }[] {
  return [...Deno.readDirSync(folder)].filter((entry) =>
    entry.isFile && !entry.name.startsWith(".")
  ).map((entry) => {
    const body = JSON.parse(Deno.readTextFileSync(`${folder}/${entry.name}`));
    return { type: body.type, path: body.path };
  });
}

test("the 226 of STOR and the 250 of DELE come after their events are written to the outbox", async () => {
  const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  // A port nothing listens on: events stay in the outbox.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = closed.addr;
  closed.close();
  try {
    await using ts = await startServer({
      events: {
        url: `http://127.0.0.1:${port}/events`,
        secret: "test-secret-do-not-use",
        outbox,
        retryDelayMs: 60_000,
      },
      logger: silentLogger,
    });
    const client = await ts.client("alice");
    for (let i = 0; i < 5; i++) {
      const replies = await client.upload(`STOR f${i}.bin`, new Uint8Array(1000));
      assert.equal(replies.at(-1)?.code, 226);
      // Read synchronously, before anything else can run.
      assert.ok(
        outboxEvents(outbox).some((e) => e.type === "upload" && e.path === `/f${i}.bin`),
        `the upload event of f${i}.bin is in the outbox when 226 arrives`,
      );
      assert.equal((await client.send(`DELE f${i}.bin`)).code, 250);
      assert.ok(
        outboxEvents(outbox).some((e) => e.type === "delete" && e.path === `/f${i}.bin`),
        `the delete event of f${i}.bin is in the outbox when 250 arrives`,
      );
    }
  } finally {
    await Deno.remove(outbox, { recursive: true });
  }
});

test("a reply waits for its own event only, not for other events still being written", async () => {
  const folder = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = closed.addr;
  closed.close();
  // A shared queue whose write of login events hangs (a slow store, or a busy
  // server where some session's event is always being written).
  let releaseLogins!: () => void;
  const loginsHang = new Promise<void>((resolve) => releaseLogins = resolve);
  class SlowLogins extends MemoryState {
    override async enqueue(queue: string, value: string): Promise<void> {
      if (value.includes(`\\"type\\":\\"login\\"`)) await loginsHang;
      return super.enqueue(queue, value);
    }
  }
  const state = new SlowLogins();
  try {
    await using ts = await startServer({
      events: {
        url: `http://127.0.0.1:${port}/events`,
        secret: "test-secret-do-not-use",
        outbox: state,
        outboxFolder: folder,
        retryDelayMs: 60_000,
      },
      logger: silentLogger,
    });
    const client = await ts.client("alice"); // its login event is stuck
    await client.upload("STOR f.bin", new Uint8Array(10));
    const started = performance.now();
    assert.equal((await client.send("DELE f.bin")).code, 250);
    const waited = performance.now() - started;
    releaseLogins(); // before the server stops: it finishes writing its events
    assert.ok(waited < 2500, `DELE's 250 waited ${Math.round(waited)} ms for another event`);
  } finally {
    releaseLogins();
    await Deno.remove(folder, { recursive: true });
  }
});

test("a command sent right after an upload's data is answered after the upload's 226, even while its event is written", async () => {
  const folder = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = closed.addr;
  closed.close();
  // A shared queue that takes 300 ms to write an upload event.
  class SlowUploads extends MemoryState {
    override async enqueue(queue: string, value: string): Promise<void> {
      if (value.includes(`\\"type\\":\\"upload\\"`)) {
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      return super.enqueue(queue, value);
    }
  }
  try {
    await using ts = await startServer({
      events: {
        url: `http://127.0.0.1:${port}/events`,
        secret: "test-secret-do-not-use",
        outbox: new SlowUploads(),
        outboxFolder: folder,
        retryDelayMs: 60_000,
      },
      logger: silentLogger,
    });
    const client = await ts.client("alice");
    const data = await client.passive();
    assert.equal((await client.send("STOR f.bin")).code, 150);
    await data.write(new Uint8Array(1000));
    data.close();
    // The client doesn't wait for the 226 before its next command (pipelining).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.write("NOOP\r\n");
    const codes = [(await client.read()).code, (await client.read()).code];
    assert.deepEqual(codes, [226, 200], "replies in the order of their commands");
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
