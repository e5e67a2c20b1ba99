import assert from "node:assert/strict";
import { fromNetworkAscii, toNetworkAscii } from "../../../src/data/ascii.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Pipe the chunks (strings of bytes) through a transform and return everything as text. */
async function run(
  transform: TransformStream<Uint8Array, Uint8Array>,
  chunks: Array<string | Uint8Array>,
): Promise<string> {
  const source = ReadableStream.from(
    chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c),
  );
  const parts: Uint8Array[] = [];
  for await (const part of source.pipeThrough(transform)) parts.push(part);
  return decoder.decode(concat(parts));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Every way to cut `text` into two chunks. */
function everySplit(text: string): string[][] {
  const result: string[][] = [];
  for (let i = 0; i <= text.length; i++) result.push([text.slice(0, i), text.slice(i)]);
  return result;
}

Deno.test("toNetworkAscii turns LF into CRLF", async () => {
  assert.equal(await run(toNetworkAscii(), ["a\nb\n"]), "a\r\nb\r\n");
  assert.equal(await run(toNetworkAscii(), ["\n\n"]), "\r\n\r\n");
});

Deno.test("toNetworkAscii leaves existing CRLF untouched", async () => {
  assert.equal(await run(toNetworkAscii(), ["a\r\nb\nc\r\n"]), "a\r\nb\r\nc\r\n");
});

Deno.test("toNetworkAscii keeps a lone CR and text without line ends as they are", async () => {
  assert.equal(await run(toNetworkAscii(), ["a\rb"]), "a\rb");
  assert.equal(await run(toNetworkAscii(), ["no line end"]), "no line end");
  assert.equal(await run(toNetworkAscii(), [""]), "");
});

Deno.test("toNetworkAscii sees a CR at the end of a chunk before an LF in the next", async () => {
  assert.equal(await run(toNetworkAscii(), ["a\r", "\nb"]), "a\r\nb");
  assert.equal(await run(toNetworkAscii(), ["a\r", "", "\nb"]), "a\r\nb");
});

Deno.test("toNetworkAscii adds a CR before an LF that starts a chunk", async () => {
  assert.equal(await run(toNetworkAscii(), ["a", "\nb"]), "a\r\nb");
  assert.equal(await run(toNetworkAscii(), ["a\r", "x", "\n"]), "a\rx\r\n");
});

Deno.test("toNetworkAscii gives the same result for every split of the input", async () => {
  const text = "one\ntwo\r\nthree\rfour\n\n\r\r\nend";
  const expected = "one\r\ntwo\r\nthree\rfour\r\n\r\n\r\r\nend";
  for (const chunks of everySplit(text)) {
    assert.equal(await run(toNetworkAscii(), chunks), expected, JSON.stringify(chunks));
  }
  assert.equal(await run(toNetworkAscii(), [...text]), expected);
});

Deno.test("fromNetworkAscii turns CRLF into LF", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\r\nb\r\n"]), "a\nb\n");
  assert.equal(await run(fromNetworkAscii(), ["\r\n\r\n"]), "\n\n");
});

Deno.test("fromNetworkAscii keeps a bare LF", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\nb"]), "a\nb");
});

Deno.test("fromNetworkAscii keeps a lone CR", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\rb"]), "a\rb");
  assert.equal(await run(fromNetworkAscii(), ["a\r\r\nb"]), "a\r\nb");
});

Deno.test("fromNetworkAscii joins a CR and LF split across chunks", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\r", "\nb"]), "a\nb");
  assert.equal(await run(fromNetworkAscii(), ["a\r", "", "\nb"]), "a\nb");
});

Deno.test("fromNetworkAscii keeps a CR at a chunk end that no LF follows", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\r", "b"]), "a\rb");
  assert.equal(await run(fromNetworkAscii(), ["a\r", "\r", "\n"]), "a\r\n");
});

Deno.test("fromNetworkAscii keeps a CR at the very end of the data", async () => {
  assert.equal(await run(fromNetworkAscii(), ["a\r"]), "a\r");
  assert.equal(await run(fromNetworkAscii(), ["a", "\r"]), "a\r");
});

Deno.test("fromNetworkAscii gives the same result for every split of the input", async () => {
  const text = "one\r\ntwo\nthree\rfour\r\r\n\r\nend\r";
  const expected = "one\ntwo\nthree\rfour\r\n\nend\r";
  for (const chunks of everySplit(text)) {
    assert.equal(await run(fromNetworkAscii(), chunks), expected, JSON.stringify(chunks));
  }
  assert.equal(await run(fromNetworkAscii(), [...text]), expected);
});

Deno.test("an LF text survives a round trip through both conversions", async () => {
  const text = "line 1\nline 2\n\nünïcødé\n";
  const wire = await run(toNetworkAscii(), [text]);
  assert.equal(wire, "line 1\r\nline 2\r\n\r\nünïcødé\r\n");
  assert.equal(await run(fromNetworkAscii(), [wire]), text);
});

Deno.test("binary-looking bytes other than CR and LF pass through both conversions", async () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13);
  for (const make of [toNetworkAscii, fromNetworkAscii]) {
    const parts: Uint8Array[] = [];
    for await (const part of ReadableStream.from([bytes]).pipeThrough(make())) parts.push(part);
    assert.deepEqual(concat(parts), bytes);
  }
});
