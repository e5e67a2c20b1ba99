import assert from "node:assert/strict";
import {
  type ControlLine,
  ControlLineSplitter,
  DEFAULT_MAX_LINE_BYTES,
  readControlLines,
} from "../../../src/control/line_reader.ts";

const encoder = new TextEncoder();

/** Bytes from a string of code units 0–255 (so "\xff" is the byte 0xff). */
function bytes(binary: string): Uint8Array {
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Feed every chunk to one splitter and collect the texts of the lines. */
function split(chunks: Uint8Array[], maxBytes?: number): ControlLine[] {
  const splitter = new ControlLineSplitter(maxBytes);
  return chunks.flatMap((chunk) => splitter.push(chunk));
}

function texts(lines: ControlLine[]): string[] {
  return lines.map((line) => line.text);
}

function byteByByte(data: Uint8Array): Uint8Array[] {
  return Array.from(data, (b) => Uint8Array.of(b));
}

Deno.test("a command split byte by byte is one line", () => {
  const lines = split(byteByByte(encoder.encode("RETR some file.txt\r\n")));
  assert.deepEqual(lines, [{ text: "RETR some file.txt", tooLong: false }]);
});

Deno.test("a command split in arbitrary pieces is one line", () => {
  const lines = split([
    encoder.encode("US"),
    encoder.encode("ER ano"),
    encoder.encode("nymous"),
    encoder.encode("\r"),
    encoder.encode("\n"),
  ]);
  assert.deepEqual(texts(lines), ["USER anonymous"]);
});

Deno.test("an unterminated line is not returned until its end arrives", () => {
  const splitter = new ControlLineSplitter();
  assert.deepEqual(splitter.push(encoder.encode("NOOP")), []);
  assert.deepEqual(texts(splitter.push(encoder.encode("\r\n"))), ["NOOP"]);
});

Deno.test("several commands in one chunk become several lines in order", () => {
  const lines = split([encoder.encode("USER a\r\nPASS b\r\nPWD\r\n")]);
  assert.deepEqual(texts(lines), ["USER a", "PASS b", "PWD"]);
});

Deno.test("a chunk may end one line and start the next", () => {
  const lines = split([encoder.encode("USER a\r\nPA"), encoder.encode("SS b\r\n")]);
  assert.deepEqual(texts(lines), ["USER a", "PASS b"]);
});

Deno.test("a bare LF ends a line", () => {
  assert.deepEqual(texts(split([encoder.encode("USER a\nPASS b\n")])), ["USER a", "PASS b"]);
});

Deno.test("a lone CR ends a line (ftplib abort sends ABOR\\r)", () => {
  const splitter = new ControlLineSplitter();
  assert.deepEqual(texts(splitter.push(encoder.encode("ABOR\r"))), ["ABOR"]);
  assert.deepEqual(texts(splitter.push(encoder.encode("NOOP\r\n"))), ["NOOP"]);
});

Deno.test("CR at the end of a chunk and LF at the start of the next give no extra line", () => {
  const lines = split([encoder.encode("USER a\r"), encoder.encode("\nPASS b\r"), bytes("\n")]);
  assert.deepEqual(texts(lines), ["USER a", "PASS b"]);
});

Deno.test("mixed CRLF, LF and CR endings in one stream", () => {
  const lines = split([encoder.encode("A\r\nB\nC\rD\r\n")]);
  assert.deepEqual(texts(lines), ["A", "B", "C", "D"]);
});

Deno.test("empty lines are reported as empty text", () => {
  assert.deepEqual(texts(split([encoder.encode("\r\n\nNOOP\r\n")])), ["", "", "NOOP"]);
});

Deno.test("Telnet IAC IP IAC DM before ABOR is stripped", () => {
  assert.deepEqual(texts(split([bytes("\xff\xf4\xff\xf2ABOR\r\n")])), ["ABOR"]);
});

Deno.test("Telnet IAC IP IAC DM split byte by byte is stripped", () => {
  assert.deepEqual(texts(split(byteByByte(bytes("\xff\xf4\xff\xf2ABOR\r\n")))), ["ABOR"]);
});

Deno.test("lftp's IAC IP IAC followed directly by ABOR keeps all of ABOR", () => {
  // SPEC §4: lftp sends `\xff\xf4\xffABOR\r\n` (the DM byte travels as urgent data and is not in
  // the stream). "A" (0x41) is not a Telnet command byte, so it must stay data: the line has to
  // end in ABOR for the session's last-four-letters rule to recognise it.
  const [line] = split([bytes("\xff\xf4\xffABOR\r\n")]);
  assert.ok(line.text.endsWith("ABOR"), `got ${JSON.stringify(line.text)}`);
});

Deno.test("IAC IAC is the data byte 0xff, decoded as UTF-8 afterwards", () => {
  // 0xff is never valid UTF-8, so one escaped 0xff decodes to exactly one U+FFFD.
  assert.deepEqual(texts(split([bytes("A\xff\xffB\r\n")])), ["A\ufffdB"]);
  assert.deepEqual(texts(split([bytes("\xff\xff\r\n")])), ["\ufffd"]);
  // Two escaped bytes are two data bytes (two replacements), not a Telnet command.
  assert.deepEqual(texts(split([bytes("\xff\xff\xff\xff\r\n")])), ["\ufffd\ufffd"]);
});

Deno.test("IAC IAC split across chunks is still one 0xff byte", () => {
  assert.deepEqual(texts(split([bytes("X\xff"), bytes("\xffY\r\n")])), ["X\ufffdY"]);
});

Deno.test("IAC WILL/WONT/DO/DONT with their option byte are stripped", () => {
  for (const verb of ["\xfb", "\xfc", "\xfd", "\xfe"]) {
    const lines = split([bytes(`\xff${verb}\x01NOOP\r\n`)]);
    assert.deepEqual(texts(lines), ["NOOP"], `verb 0x${verb.charCodeAt(0).toString(16)}`);
  }
});

Deno.test("IAC WILL with its option byte in the next chunk is stripped", () => {
  assert.deepEqual(texts(split([bytes("NO\xff\xfb"), bytes("\x18OP\r\n")])), ["NOOP"]);
});

Deno.test("an option byte that looks like CR or LF does not end the line", () => {
  assert.deepEqual(texts(split([bytes("NO\xff\xfd\x0dOP\r\n")])), ["NOOP"]);
});

Deno.test("Telnet sequences are stripped before UTF-8 decoding", () => {
  // "é" is c3 a9; a Telnet IP between its two bytes must not break the character.
  assert.deepEqual(texts(split([bytes("CWD caf\xc3\xff\xf4\xa9\r\n")])), ["CWD café"]);
});

Deno.test("a line longer than the cap is one tooLong line and the next line is fine", () => {
  const long = "STOR " + "x".repeat(200) + "\r\n";
  const lines = split([encoder.encode(long + "NOOP\r\n")], 64);
  assert.deepEqual(lines, [{ text: "", tooLong: true }, { text: "NOOP", tooLong: false }]);
});

Deno.test("an over-long line arriving in many chunks is reported once", () => {
  const splitter = new ControlLineSplitter(64);
  let early = 0;
  for (let i = 0; i < 50; i++) early += splitter.push(encoder.encode("y".repeat(10))).length;
  assert.equal(early, 0);
  const lines = splitter.push(encoder.encode("\r\nPWD\r\n"));
  assert.deepEqual(lines, [{ text: "", tooLong: true }, { text: "PWD", tooLong: false }]);
});

Deno.test("a line of exactly the cap is accepted and one byte more is too long", () => {
  const exact = split([encoder.encode("a".repeat(64) + "\r\n")], 64);
  assert.deepEqual(exact, [{ text: "a".repeat(64), tooLong: false }]);
  const over = split([encoder.encode("a".repeat(65) + "\r\n")], 64);
  assert.deepEqual(over, [{ text: "", tooLong: true }]);
});

Deno.test("the default cap is 4 KiB", () => {
  assert.equal(DEFAULT_MAX_LINE_BYTES, 4096);
  const ok = split([encoder.encode("b".repeat(4096) + "\n")]);
  assert.equal(ok[0].tooLong, false);
  assert.equal(ok[0].text.length, 4096);
  const tooLong = split([encoder.encode("b".repeat(4097) + "\n")]);
  assert.deepEqual(tooLong, [{ text: "", tooLong: true }]);
});

Deno.test("invalid UTF-8 is replaced, not fatal, and later lines still decode", () => {
  const lines = split([bytes("CWD \xc3(\x80x\r\nPWD\r\n")]);
  assert.deepEqual(texts(lines), ["CWD \ufffd(\ufffdx", "PWD"]);
});

Deno.test("an incomplete UTF-8 sequence at the end of a line does not leak into the next", () => {
  const lines = split([bytes("A\xe2\x82\r\n\xac\r\nB\r\n")]);
  assert.equal(lines.length, 3);
  assert.equal(lines[0].text, "A\ufffd");
  assert.equal(lines[1].text, "\ufffd");
  assert.equal(lines[2].text, "B");
});

Deno.test("a multi-byte UTF-8 character split across chunks decodes whole", () => {
  const data = encoder.encode("MKD ✓ ünïcødé 日本 😀\r\n");
  assert.deepEqual(texts(split(byteByByte(data))), ["MKD ✓ ünïcødé 日本 😀"]);
  const euro = encoder.encode("RETR €.txt\r\n"); // € is e2 82 ac
  const at = euro.indexOf(0x82);
  assert.deepEqual(texts(split([euro.subarray(0, at), euro.subarray(at)])), ["RETR €.txt"]);
});

/** A byte source that returns the given chunks one read at a time, then EOF. */
function chunkSource(chunks: Uint8Array[]) {
  let index = 0;
  let offset = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (index >= chunks.length) return Promise.resolve(null);
      const chunk = chunks[index];
      const n = Math.min(p.length, chunk.length - offset);
      p.set(chunk.subarray(offset, offset + n));
      offset += n;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
      return Promise.resolve(n);
    },
  };
}

Deno.test("readControlLines yields every line from a source until it ends", async () => {
  const source = chunkSource([
    encoder.encode("USER a\r"),
    encoder.encode("\nPASS b\r\nSYST"),
    encoder.encode("\nQUIT"), // unterminated at EOF: not a command
  ]);
  const lines: ControlLine[] = [];
  for await (const line of readControlLines(source)) lines.push(line);
  assert.deepEqual(texts(lines), ["USER a", "PASS b", "SYST"]);
});

Deno.test("readControlLines applies its cap", async () => {
  const source = chunkSource([encoder.encode("z".repeat(100) + "\r\nNOOP\r\n")]);
  const lines: ControlLine[] = [];
  for await (const line of readControlLines(source, 64)) lines.push(line);
  assert.deepEqual(lines, [{ text: "", tooLong: true }, { text: "NOOP", tooLong: false }]);
});

Deno.test("readControlLines reads a real TCP connection split into segments", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using server = await accepted;
  const lines: string[] = [];
  const reading = (async () => {
    for await (const line of readControlLines(server)) lines.push(line.text);
  })();
  for (const piece of ["US", "ER x\r", "\nPA", "SS y\nNOOP\r\n"]) {
    await client.write(encoder.encode(piece));
  }
  await client.closeWrite();
  await reading;
  assert.deepEqual(lines, ["USER x", "PASS y", "NOOP"]);
});
