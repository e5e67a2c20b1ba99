import assert from "node:assert/strict";
import type { ByteConnection } from "../../../src/data/connection.ts";
import { LineBatcher } from "../../../src/data/streams.ts";
import { TransferProgress } from "../../../src/data/transfer.ts";

/** A connection that keeps a copy of every write (the batcher reuses its buffer). */
function recorder(maxPerWrite = Infinity): { connection: ByteConnection; writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  const connection = {
    write(data: Uint8Array) {
      const n = Math.min(data.length, maxPerWrite);
      writes.push(data.slice(0, n));
      return Promise.resolve(n);
    },
  } as unknown as ByteConnection;
  return { connection, writes };
}

function joined(writes: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(writes.reduce((sum, w) => sum + w.length, 0));
  let at = 0;
  for (const w of writes) {
    out.set(w, at);
    at += w.length;
  }
  return out;
}

async function send(lines: string[], maxPerWrite?: number) {
  const { connection, writes } = recorder(maxPerWrite);
  const progress = new TransferProgress();
  const batch = new LineBatcher(connection, progress);
  for (const line of lines) await batch.add(line);
  await batch.flush();
  return { bytes: joined(writes), writes, progress };
}

Deno.test("LineBatcher sends exactly the UTF-8 of the lines with CRLF, counted", async () => {
  const lines = ["plain", "", "é ü 日本 🙂 mixed", "x".repeat(100), "tail ñ"];
  const { bytes, writes, progress } = await send(lines);
  const expected = new TextEncoder().encode(lines.map((l) => l + "\r\n").join(""));
  assert.deepEqual(bytes, expected);
  assert.equal(progress.bytes, expected.length);
  assert.equal(writes.length, 1, "small listings go out in one write");
});

Deno.test("LineBatcher batches into ~64 KiB writes and keeps order across them", async () => {
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${i % 7 ? "ascii" : "ünïcode"}`);
  const { bytes, writes, progress } = await send(lines, 10_000);
  const expected = new TextEncoder().encode(lines.map((l) => l + "\r\n").join(""));
  assert.deepEqual(bytes, expected);
  assert.equal(progress.bytes, expected.length);
  assert.ok(writes.every((w) => w.length <= 64 * 1024));
});

Deno.test("LineBatcher sends a line longer than its buffer whole, in order", async () => {
  const long = "ß".repeat(40_000); // 80,000 bytes of UTF-8
  const lines = ["before", long, "after"];
  const { bytes } = await send(lines);
  assert.deepEqual(bytes, new TextEncoder().encode(lines.map((l) => l + "\r\n").join("")));
});
