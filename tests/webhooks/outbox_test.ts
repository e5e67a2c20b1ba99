import assert from "node:assert/strict";
import * as path from "node:path";
import { MemoryState, type SharedState } from "../../src/cluster/state.ts";
import { silentLogger } from "../../mod.ts";
import { FAILED_FOLDER, FolderOutbox } from "../../src/webhooks/outbox.ts";
import { QueueOutbox } from "../../src/webhooks/queue_outbox.ts";
import { buildEvents } from "../../src/webhooks/config.ts";
import { ConfigError } from "../../src/config/error.ts";
import { test } from "../deadline.ts";

async function files(folder: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) if (entry.isFile) names.push(entry.name);
  return names.sort();
}

test("the folder outbox keeps one file per event, exact body, until delivered, across a reopen", async () => {
  const folder = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  try {
    const outbox = new FolderOutbox(folder, 10);
    await outbox.open();
    assert.ok(await outbox.put('{"n":1}'));
    assert.ok(await outbox.put('{"n":2,"ü":"é"}'));
    assert.equal((await files(folder)).length, 2);
    const [first, second] = await outbox.take(5);
    assert.deepEqual([first.body, second.body], ['{"n":1}', '{"n":2,"ü":"é"}']);
    assert.deepEqual(await outbox.take(5), [], "taken events are not handed out twice");
    await outbox.delivered(first);
    await outbox.failed(second, Date.now() + 60_000);
    assert.deepEqual(await outbox.take(5), [], "not due yet");
    assert.deepEqual(await files(folder), [second.key]);

    // A new process on the same folder: the event is there, due at once; a
    // half-written temporary file is no event.
    await Deno.writeTextFile(path.join(folder, ".tmp-000-partial.json"), '{"n":');
    const reopened = new FolderOutbox(folder, 10);
    await reopened.open();
    const [again] = await reopened.take(5);
    assert.equal(again.body, '{"n":2,"ü":"é"}');
    assert.deepEqual(await files(folder), [second.key]);
    await reopened.failed(again); // out of retries: set aside, not lost
    assert.deepEqual(await files(folder), []);
    assert.deepEqual(await files(path.join(folder, FAILED_FOLDER)), [second.key]);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

test("a full folder outbox refuses new events (the caller logs the drop)", async () => {
  const folder = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  try {
    const outbox = new FolderOutbox(folder, 2);
    await outbox.open();
    assert.ok(await outbox.put("{}"));
    assert.ok(await outbox.put("{}"));
    assert.equal(await outbox.put("{}"), false);
    assert.equal((await files(folder)).length, 2);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

test("the shared-queue outbox delivers through SharedState, retries later, and falls back to the folder when the store fails", async () => {
  const folder = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  try {
    const state = new MemoryState();
    const outbox = new QueueOutbox(state, new FolderOutbox(folder, 10), silentLogger, 1000);
    await outbox.open();
    assert.ok(await outbox.put('{"n":1}'));
    assert.deepEqual(await files(folder), [], "in the shared queue, not the folder");
    const [entry] = await outbox.take(4);
    assert.equal(entry.body, '{"n":1}');
    await outbox.failed(entry, Date.now() + 50);
    assert.deepEqual(await outbox.take(4), [], "held until due");
    assert.ok(outbox.nextDueAt()! > Date.now() - 1);
    await new Promise((r) => setTimeout(r, 60));
    const [retried] = await outbox.take(4);
    assert.deepEqual([retried.body, retried.attempt], ['{"n":1}', 1]);
    await outbox.delivered(retried);
    assert.equal(await state.dequeue("webhooks:events", 1000), undefined);

    // Another node's event, and one whose node died before acknowledging it.
    await state.enqueue("webhooks:events", JSON.stringify({ body: "{}", attempt: 0, dueAt: 0 }));
    assert.equal((await outbox.take(4)).length, 1);

    const broken: SharedState = new Proxy(state, {
      get: (target, name) =>
        name === "enqueue" || name === "dequeue"
          ? () => Promise.reject(new Error("store down"))
          : Reflect.get(target, name),
    });
    const degraded = new QueueOutbox(broken, new FolderOutbox(folder, 10), silentLogger, 1000);
    await degraded.open();
    assert.ok(await degraded.put('{"n":3}'));
    assert.equal((await files(folder)).length, 1, "kept in the local folder");
    const [local] = await degraded.take(4);
    assert.equal(local.body, '{"n":3}');
    await degraded.delivered(local);
    assert.deepEqual(await files(folder), []);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

test("the events section of the config: keys checked by name, outbox relative to the config file", () => {
  const options = buildEvents(
    { url: "http://127.0.0.1:1/hook", secret: "s", on: ["upload"], timeout_ms: 500 },
    "/etc/exftp",
  )!;
  assert.equal(options.outbox, "/etc/exftp/exftp-outbox");
  assert.deepEqual(options.on, ["upload"]);
  assert.equal(options.timeoutMs, 500);
  const error = (section: Record<string, unknown>) => {
    try {
      buildEvents(section, "/");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("no error");
  };
  assert.match(error({ url: "http://x/" }), /events\.secret.*required/);
  assert.match(error({ secret: "s" }), /events\.url/);
  assert.match(error({ secret: "s", url: "http://x/", on: ["nope"] }), /events\.on/);
  assert.match(error({ secret: "s", url: "http://x/", retry: 3 }), /events\.retry.*unknown key/);
  assert.match(error({ secret: "s", url: "gopher://x/" }), /events\.url/);
});
