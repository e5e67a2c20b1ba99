import assert from "node:assert/strict";
import { MemoryState } from "../../../src/cluster/state.ts";
import { sharedStateBehaviours } from "./behaviours.ts";

function fakeClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("hit counts events within the window only", async () => {
  const clock = fakeClock();
  const state = new MemoryState(clock.now);
  assert.equal(await state.hit("f:1.2.3.4", 1000), 1);
  clock.advance(600);
  assert.equal(await state.hit("f:1.2.3.4", 1000), 2);
  clock.advance(600);
  assert.equal(await state.hit("f:1.2.3.4", 1000), 2, "the first one left the window");
  await state.clearHits("f:1.2.3.4");
  assert.equal(await state.hit("f:1.2.3.4", 1000), 1);
});

Deno.test("a flag ends by itself", async () => {
  const clock = fakeClock();
  const state = new MemoryState(clock.now);
  await state.setFlag("ban:x", 500);
  assert.equal(await state.hasFlag("ban:x"), true);
  clock.advance(499);
  assert.equal(await state.hasFlag("ban:x"), true);
  clock.advance(1);
  assert.equal(await state.hasFlag("ban:x"), false);
});

Deno.test("slots: at most limit holders, renewals keep them, expiry frees them", async () => {
  const clock = fakeClock();
  const state = new MemoryState(clock.now);
  assert.equal(await state.acquireSlot("u:alice", "n1:1", 2, 1000), true);
  assert.equal(await state.acquireSlot("u:alice", "n1:2", 2, 1000), true);
  assert.equal(await state.acquireSlot("u:alice", "n2:1", 2, 1000), false, "full");
  assert.equal(await state.acquireSlot("u:alice", "n1:1", 2, 1000), true, "a holder renews");
  assert.equal(await state.countSlots("u:alice"), 2);
  await state.releaseSlot("u:alice", "n1:2");
  assert.equal(await state.acquireSlot("u:alice", "n2:1", 2, 1000), true);
  clock.advance(900);
  await state.renewSlots([{ key: "u:alice", holder: "n2:1" }], 1000);
  clock.advance(200);
  assert.equal(await state.countSlots("u:alice"), 1, "n1:1 expired, n2:1 was renewed");
});

Deno.test("reserve never lets a counter pass its limit, and negative deltas always apply", async () => {
  const state = new MemoryState();
  assert.deepEqual(await state.reserve("q", 60, 100), { ok: true, value: 60 });
  assert.deepEqual(await state.reserve("q", 50, 100), { ok: false, value: 60 });
  assert.deepEqual(await state.reserve("q", 40, 100), { ok: true, value: 100 });
  assert.deepEqual(await state.reserve("q", -30, 100), { ok: true, value: 70 });
  assert.deepEqual(await state.reserve("q", 1_000), { ok: true, value: 1_070 });
  await state.writeCounter("q", 5);
  assert.equal(await state.readCounter("q"), 5);
  assert.equal(await state.readCounter("never"), undefined);
});

Deno.test("queues hand out each item once until acknowledged, again after its lease", async () => {
  const clock = fakeClock();
  const state = new MemoryState(clock.now);
  await state.enqueue("events", "a");
  await state.enqueue("events", "b");
  const first = await state.dequeue("events", 1000);
  assert.equal(first?.value, "a");
  assert.equal(first?.deliveries, 0);
  assert.equal((await state.dequeue("events", 1000))?.value, "b");
  assert.equal(await state.dequeue("events", 1000), undefined, "both leased");
  await state.ack("events", first!.id);
  clock.advance(1000);
  const again = await state.dequeue("events", 1000);
  assert.equal(again?.value, "b", "b's handler never acknowledged it");
  assert.equal(again?.deliveries, 1);
  await state.ack("events", again!.id);
  assert.equal(await state.dequeue("events", 1000), undefined);
});

sharedStateBehaviours("MemoryState", () => {
  let now = 1_000_000;
  const state = new MemoryState(() => now);
  return Promise.resolve({ state, advance: (ms) => Promise.resolve(void (now += ms)) });
});
