import assert from "node:assert/strict";
import { DeadlineQueue, DeadlineQueues } from "../../../src/control/deadlines.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("deadlines fall due in the order they were armed; re-arming postpones one", async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<string>(60, (item) => expired.push(item));
  queue.arm("a");
  queue.arm("b");
  await sleep(30);
  queue.arm("a"); // postponed: now after b
  queue.arm("c");
  await sleep(45); // b's deadline has passed, a's and c's not
  assert.deepEqual(expired, ["b"]);
  await sleep(60);
  assert.deepEqual(expired, ["b", "a", "c"]);
  assert.equal(queue.size, 0);
});

Deno.test("a disarmed deadline never fires, and an empty queue holds no timer", async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<string>(20, (item) => expired.push(item));
  queue.arm("a");
  queue.arm("b");
  queue.disarm("a");
  queue.disarm("b");
  // The test sanitizer fails this test if a timer is left pending here.
  assert.equal(queue.size, 0);
  await sleep(40);
  assert.deepEqual(expired, []);
});

Deno.test("one item's failing callback doesn't keep the others from expiring", async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<string>(10, (item) => {
    expired.push(item);
    if (item === "a") throw new Error("boom");
  });
  queue.arm("a");
  queue.arm("b");
  await sleep(40);
  assert.deepEqual(expired, ["a", "b"]);
});

Deno.test("queues of different durations are kept apart, and disarm reaches all", async () => {
  const expired: string[] = [];
  const queues = new DeadlineQueues<string>((item) => expired.push(item));
  queues.of(10).arm("short");
  queues.of(1000).arm("long");
  assert.equal(queues.of(10).ms, 10);
  await sleep(40);
  assert.deepEqual(expired, ["short"]);
  queues.disarm("long");
  assert.equal(queues.of(1000).size, 0);
});
