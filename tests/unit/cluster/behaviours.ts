/**
 * The behaviours every {@linkcode SharedState} must have, run against each
 * implementation (MemoryState with a fake clock, RedisState against a real
 * redis-server in real time). Times leave margins so that real time passes
 * the same assertions; the exact boundaries are MemoryState's own tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { SharedState } from "../../../src/cluster/state.ts";

/** A fresh state and a way to let time pass for it. */
export interface Subject {
  state: SharedState;
  /** Let `ms` pass (a fake clock advances; real time is waited for). */
  advance(ms: number): Promise<void>;
}

/** Register the behaviour tests for one implementation. */
export function sharedStateBehaviours(
  name: string,
  make: () => Promise<Subject>,
  options: { ignore?: boolean } = {},
): void {
  const test = (title: string, body: (subject: Subject) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore,
      async fn() {
        const subject = await make();
        try {
          await body(subject);
        } finally {
          await subject.state.close();
        }
      },
    });

  test("hit counts events within the window only", async ({ state, advance }) => {
    assert.equal(await state.hit("f:1.2.3.4", 600), 1);
    await advance(350);
    assert.equal(await state.hit("f:1.2.3.4", 600), 2);
    await advance(350);
    assert.equal(await state.hit("f:1.2.3.4", 600), 2, "the first one left the window");
    assert.equal(await state.hit("f:5.6.7.8", 600), 1, "another key counts apart");
    await state.clearHits("f:1.2.3.4");
    assert.equal(await state.hit("f:1.2.3.4", 600), 1);
  });

  test("a flag ends by itself", async ({ state, advance }) => {
    assert.equal(await state.hasFlag("ban:x"), false);
    await state.setFlag("ban:x", 400);
    assert.equal(await state.hasFlag("ban:x"), true);
    await advance(150);
    assert.equal(await state.hasFlag("ban:x"), true);
    await advance(400);
    assert.equal(await state.hasFlag("ban:x"), false);
  });

  test("slots: at most limit holders, renewals keep them, expiry frees them", async (subject) => {
    const { state, advance } = subject;
    assert.equal(await state.acquireSlot("u:alice", "n1:1", 2, 600), true);
    assert.equal(await state.acquireSlot("u:alice", "n1:2", 2, 600), true);
    assert.equal(await state.acquireSlot("u:alice", "n2:1", 2, 600), false, "full");
    assert.equal(await state.acquireSlot("u:alice", "n1:1", 2, 600), true, "a holder renews");
    assert.equal(await state.countSlots("u:alice"), 2);
    await state.releaseSlot("u:alice", "n1:2");
    assert.equal(await state.acquireSlot("u:alice", "n2:1", 2, 600), true);
    await advance(350);
    await state.renewSlots([{ key: "u:alice", holder: "n2:1" }], 600);
    await advance(400);
    assert.equal(await state.countSlots("u:alice"), 1, "n1:1 expired, n2:1 was renewed");
    assert.equal(await state.acquireSlot("u:alice", "n3:1", 2, 600), true, "room again");
    await state.renewSlots([{ key: "u:alice", holder: "n1:1" }], 600);
    assert.equal(await state.countSlots("u:alice"), 2, "an expired slot is not renewed back");
  });

  test("slots: racing holders never exceed the limit", async ({ state }) => {
    const taken = await Promise.all(
      Array.from({ length: 20 }, (_, i) => state.acquireSlot("ip:9.9.9.9", `n:${i}`, 5, 5000)),
    );
    assert.equal(taken.filter(Boolean).length, 5);
    assert.equal(await state.countSlots("ip:9.9.9.9"), 5);
    assert.equal(await state.countSlots("ip:never"), 0);
  });

  test("reserve never lets a counter pass its limit, and negative deltas always apply", async ({ state }) => {
    assert.deepEqual(await state.reserve("q", 60, 100), { ok: true, value: 60 });
    assert.deepEqual(await state.reserve("q", 50, 100), { ok: false, value: 60 });
    assert.deepEqual(await state.reserve("q", 40, 100), { ok: true, value: 100 });
    assert.deepEqual(await state.reserve("q", -30, 100), { ok: true, value: 70 });
    assert.deepEqual(await state.reserve("q", 1_000), { ok: true, value: 1_070 });
    await state.writeCounter("q", 5);
    assert.equal(await state.readCounter("q"), 5);
    assert.equal(await state.readCounter("never"), undefined);
    const racing = await Promise.all(
      Array.from({ length: 10 }, () => state.reserve("race", 10, 55)),
    );
    assert.equal(racing.filter((r) => r.ok).length, 5, "two racers never get the last bytes");
    assert.equal(await state.readCounter("race"), 50);
  });

  test("queues hand out each item once until acknowledged, again after its lease", async (subject) => {
    const { state, advance } = subject;
    await state.enqueue("events", "a");
    await state.enqueue("events", "b");
    const first = await state.dequeue("events", 400);
    assert.equal(first?.value, "a");
    assert.equal(first?.deliveries, 0);
    assert.equal((await state.dequeue("events", 400))?.value, "b");
    assert.equal(await state.dequeue("events", 400), undefined, "both leased");
    await state.ack("events", first!.id);
    await advance(500);
    const again = await state.dequeue("events", 400);
    assert.equal(again?.value, "b", "b's handler never acknowledged it");
    assert.equal(again?.deliveries, 1);
    await state.ack("events", again!.id);
    assert.equal(await state.dequeue("events", 400), undefined);
    assert.equal(await state.dequeue("other", 400), undefined, "an empty queue");
  });
}
