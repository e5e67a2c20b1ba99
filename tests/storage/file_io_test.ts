/**
 * copyInto, the file connector's stream-to-file copy: for one upload the next
 * read runs while the last piece is written (each write is a hop to Deno's
 * blocking thread pool), with many at once each keeps one buffer; bytes
 * arrive whole and in order either way.
 */

import assert from "node:assert/strict";
import { copyInto, fileWrites, Gate } from "../../src/storage/file_io.ts";
import { randomBytes } from "../helpers.ts";

const MIB = 1 << 20;

/** A byte stream of `bytes` in pieces of at most `piece`, counting its pulls. */
function counted(bytes: Uint8Array, piece: number): {
  stream: ReadableStream<Uint8Array>;
  pulls: () => number;
} {
  let sent = 0;
  let pulls = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      pulls++;
      const request = controller.byobRequest!;
      const view = request.view as Uint8Array;
      if (sent >= bytes.length) {
        controller.close();
        request.respond(0);
        return;
      }
      const n = Math.min(view.length, piece, bytes.length - sent);
      view.set(bytes.subarray(sent, sent + n));
      sent += n;
      request.respond(n);
    },
  });
  return { stream, pulls: () => pulls };
}

/** A file whose writes wait until `release()`; it keeps what was written. */
function heldFile() {
  const chunks: Uint8Array[] = [];
  let waiting: (() => void)[] = [];
  let held = true;
  const file = {
    async write(data: Uint8Array): Promise<number> {
      chunks.push(data.slice());
      if (held) await new Promise<void>((resolve) => waiting.push(resolve));
      return data.length;
    },
  } as unknown as Deno.FsFile;
  return {
    file,
    writes: () => chunks.length,
    release() {
      held = false;
      waiting.forEach((resolve) => resolve());
      waiting = [];
    },
    bytes: () => {
      const all = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
      let at = 0;
      for (const chunk of chunks) {
        all.set(chunk, at);
        at += chunk.length;
      }
      return all;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

Deno.test("one upload: copyInto reads the next piece while the last one is written", async () => {
  const bytes = randomBytes(3 * MIB + 5);
  const source = counted(bytes, MIB);
  const target = heldFile();
  const copying = copyInto(source.stream, target.file);
  await settle();
  assert.equal(target.writes(), 1, "the first piece is being written");
  assert.equal(source.pulls(), 2, "and the second is read meanwhile");
  target.release();
  assert.equal(await copying, bytes.length);
  assert.deepEqual(target.bytes(), bytes);
});

Deno.test("many uploads at once: beyond four, each copy reads only after its write (one buffer)", async () => {
  const copies = Array.from({ length: 5 }, () => {
    const bytes = randomBytes(2 * MIB + 1);
    return { bytes, source: counted(bytes, MIB), target: heldFile() };
  });
  const running = copies.map(({ source, target }) => copyInto(source.stream, target.file));
  await settle();
  assert.deepEqual(copies.map(({ source }) => source.pulls()), [2, 2, 2, 2, 1]);
  copies.forEach(({ target }) => target.release());
  for (const [i, { bytes, target }] of copies.entries()) {
    assert.equal(await running[i], bytes.length);
    assert.deepEqual(target.bytes(), bytes);
  }
});

Deno.test("a write that fails while the next read waits (disk full) rejects the copy, no unhandled rejection", async () => {
  // /dev/full fails every write with ENOSPC, like a full disk. The second read
  // waits for the network (here 200 ms): the failed write must be handled
  // meanwhile, or the process sees an unhandled rejection (a crash, for a
  // program without a last-resort handler).
  const file = await Deno.open("/dev/full", { write: true });
  let pulls = 0;
  const stream = new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const request = controller.byobRequest!;
      if (pulls++ > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      if (pulls > 3) {
        controller.close();
        request.respond(0);
        return;
      }
      (request.view as Uint8Array).fill(7, 0, 1000);
      request.respond(1000);
    },
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await assert.rejects(copyInto(stream, file));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled.map(String), []);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    file.close();
  }
});

Deno.test("the write gate runs at most its limit at once, in arrival order, and a failing task gives its place back", async () => {
  const gate = new Gate(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const releases: (() => void)[] = [];
  const task = (i: number, fail = false) => () => {
    started.push(i);
    most = Math.max(most, ++running);
    return new Promise<number>((resolve, reject) => {
      releases[i] = () => {
        running--;
        if (fail) reject(new Error(`task ${i} failed`));
        else resolve(i);
      };
    });
  };
  const results = [0, 1, 2, 3, 4].map((i) => gate.run(task(i, i === 0)));
  results[0].catch(() => {});
  await Promise.resolve();
  assert.deepEqual(started, [0, 1], "two run, three wait");
  releases[0](); // fails: its place goes to the first waiting task
  await assert.rejects(results[0], /task 0 failed/);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(started, [0, 1, 2]);
  releases[2]();
  releases[1]();
  await Promise.all([results[1], results[2]]);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(started, [0, 1, 2, 3, 4], "in arrival order");
  releases[3]();
  releases[4]();
  assert.deepEqual(await Promise.all(results.slice(1)), [1, 2, 3, 4]);
  assert.equal(most, 2, "never more than the limit at once");
  assert.equal(gate.running, 0, "every place given back");
});

Deno.test("uploads' file writes share one bounded gate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "exftp-gate-" });
  try {
    let most = 0;
    const watch = setInterval(() => most = Math.max(most, fileWrites.running), 0);
    const copies = Array.from({ length: 12 }, async (_, i) => {
      const bytes = randomBytes(3 * 1024 * 1024 + i);
      const file = await Deno.open(`${dir}/f${i}`, { write: true, create: true });
      try {
        const source = new Blob([new Uint8Array(bytes)]).stream();
        assert.equal(await copyInto(source, file), bytes.length);
      } finally {
        file.close();
      }
      assert.deepEqual(await Deno.readFile(`${dir}/f${i}`), bytes);
    });
    await Promise.all(copies);
    clearInterval(watch);
    assert.ok(most <= fileWrites.limit, `${most} writes at once, limit ${fileWrites.limit}`);
    assert.equal(fileWrites.running, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
