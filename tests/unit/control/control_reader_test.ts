import assert from "node:assert/strict";
import {
  type ChunkSource,
  type ControlLine,
  ControlReader,
  type ReadableListener,
} from "../../../src/control/line_reader.ts";

/** A source fed by the test; counts the listeners waiting on it. */
class FedSource implements ChunkSource {
  chunks: (Uint8Array | null | Error)[] = [];
  listener?: ReadableListener;
  take(maxBytes: number): Uint8Array | null | undefined {
    const head = this.chunks[0];
    if (head === undefined) return undefined;
    if (head === null) return null;
    if (head instanceof Error) throw head;
    if (head.length <= maxBytes) return this.chunks.shift() as Uint8Array;
    this.chunks[0] = head.subarray(maxBytes);
    return head.subarray(0, maxBytes);
  }
  whenReadable(listener: ReadableListener): void {
    this.listener = listener;
  }
  feed(item: string | null | Error): void {
    this.chunks.push(typeof item === "string" ? new TextEncoder().encode(item) : item);
    const listener = this.listener;
    this.listener = undefined;
    listener?.readable();
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("the control reader serves one line at a time and waits on nothing when idle", async () => {
  const source = new FedSource();
  const lines: string[] = [];
  let release: (() => void) | undefined;
  const stopped: unknown[] = [];
  const reader = new ControlReader(source, {
    line(line: ControlLine) {
      lines.push(line.text);
      if (line.text !== "SLOW") return true;
      return new Promise<boolean>((resolve) => (release = () => resolve(true)));
    },
    stopped: (error) => stopped.push(error ?? "end"),
  }, 4096);
  reader.start();
  await tick();
  assert.ok(source.listener, "idle: the reader asked to be told");
  source.feed("USER a\r\nSLOW\r\nNOOP\r");
  await tick();
  // The line after SLOW waits until SLOW's handler settles.
  assert.deepEqual(lines, ["USER a", "SLOW"]);
  assert.equal(source.listener, undefined, "no wait while a line is served");
  release!();
  await tick();
  assert.deepEqual(lines, ["USER a", "SLOW", "NOOP"]);
  assert.ok(source.listener, "idle again: nothing pending but the listener");
  source.feed("\nPWD\r\n");
  source.feed(null);
  await tick();
  assert.deepEqual(lines, ["USER a", "SLOW", "NOOP", "PWD"]);
  assert.deepEqual(stopped, ["end"]);
});

Deno.test("the control reader stops when a line says so, and reports a read error", async () => {
  const source = new FedSource();
  const lines: string[] = [];
  const stopped: unknown[] = [];
  const reader = new ControlReader(source, {
    line: (line) => (lines.push(line.text), line.text !== "QUIT"),
    stopped: (error) => stopped.push(error ?? "end"),
  }, 4096);
  reader.start();
  source.feed("NOOP\r\nQUIT\r\nNOOP\r\n");
  await tick();
  assert.deepEqual(lines, ["NOOP", "QUIT"]);
  assert.deepEqual(stopped, ["end"]);

  const failing = new FedSource();
  const errors: unknown[] = [];
  new ControlReader(failing, { line: () => true, stopped: (error) => errors.push(error) }, 64)
    .start();
  const reset = new Error("reset");
  failing.feed("NO");
  failing.feed(reset);
  await tick();
  assert.deepEqual(errors, [reset]);
});
