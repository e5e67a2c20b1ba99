import assert from "node:assert/strict";
import {
  encodeReply,
  formatReply,
  quotePath,
  Reply,
  sanitizeReplyText,
} from "../../src/replies.ts";

/** Every CR is followed by LF and every LF preceded by CR; the text ends with CRLF. */
function assertOnlyCrlfTerminators(reply: string): void {
  assert.ok(reply.endsWith("\r\n"), JSON.stringify(reply));
  for (let i = 0; i < reply.length; i++) {
    if (reply[i] === "\r") {
      assert.equal(reply[i + 1], "\n", `raw CR at ${i} in ${JSON.stringify(reply)}`);
    }
    if (reply[i] === "\n") {
      assert.equal(reply[i - 1], "\r", `raw LF at ${i} in ${JSON.stringify(reply)}`);
    }
  }
  assert.ok(!reply.includes("\0"), JSON.stringify(reply));
}

/** The lines of a reply without their CRLF. */
function replyLines(reply: string): string[] {
  return reply.slice(0, -2).split("\r\n");
}

/**
 * An RFC 959 multi-line reply: the first line is `code-`, the last `code `, and no line in
 * between starts with `code ` (which a client would take for the end).
 */
function assertWellFormed(reply: string, code: number): void {
  assertOnlyCrlfTerminators(reply);
  const lines = replyLines(reply);
  if (lines.length === 1) {
    assert.ok(lines[0].startsWith(`${code} `), JSON.stringify(reply));
    return;
  }
  assert.ok(lines[0].startsWith(`${code}-`), JSON.stringify(reply));
  assert.ok(lines.at(-1)!.startsWith(`${code} `), JSON.stringify(reply));
  for (const line of lines.slice(1, -1)) {
    assert.ok(!/^\d{3}[ ]/.test(line), `continuation line ${JSON.stringify(line)} looks final`);
  }
}

Deno.test("a single-line reply is code, space, text, CRLF", () => {
  assert.equal(formatReply(200, "Command okay."), "200 Command okay.\r\n");
  assert.equal(formatReply(220, "Hello from exftp."), "220 Hello from exftp.\r\n");
  assert.equal(formatReply(226, ["Transfer complete"]), "226 Transfer complete\r\n");
});

Deno.test("a single-line reply may have empty text", () => {
  assert.equal(formatReply(200, ""), "200 \r\n");
});

Deno.test("a multi-line reply has code-dash first, code-space last", () => {
  const reply = formatReply(211, ["Features:", " UTF8", " MLST type*;size*;", "End"]);
  assert.equal(reply, "211-Features:\r\n UTF8\r\n MLST type*;size*;\r\n211 End\r\n");
  assertWellFormed(reply, 211);
});

Deno.test("a multi-line reply from text with LF is split into lines", () => {
  const reply = formatReply(214, "The following commands are recognized:\nUSER PASS\nHelp OK.");
  assert.equal(
    reply,
    "214-The following commands are recognized:\r\nUSER PASS\r\n214 Help OK.\r\n",
  );
  assertWellFormed(reply, 214);
});

Deno.test("a two-line reply has no continuation lines", () => {
  assert.equal(formatReply(250, ["Start", "End"]), "250-Start\r\n250 End\r\n");
});

Deno.test("continuation lines that start with digits are indented", () => {
  const reply = formatReply(211, ["Status:", "211 not the end", "42 files", "End"]);
  assert.equal(reply, "211-Status:\r\n 211 not the end\r\n 42 files\r\n211 End\r\n");
  assertWellFormed(reply, 211);
});

Deno.test("continuation lines that do not start with digits are not indented", () => {
  const reply = formatReply(211, ["Status:", "x 211 y", " already indented", "End"]);
  assert.equal(reply, "211-Status:\r\nx 211 y\r\n already indented\r\n211 End\r\n");
});

Deno.test("CR and NUL inside a single-line text are never emitted raw", () => {
  for (const text of ["a\rb", "a\0b", "evil\r226 fake", "\r", "x\r\n226 injected"]) {
    const reply = formatReply(550, text);
    assertWellFormed(reply, 550);
  }
  assert.equal(formatReply(550, "a\rb"), "550 a b\r\n");
  assert.equal(formatReply(550, "a\0b"), "550 a b\r\n");
});

Deno.test("CR, LF and NUL inside the lines of a multi-line reply are never emitted raw", () => {
  const reply = formatReply(213, [
    "Status of /:",
    " -rw-r--r-- 1 ftp ftp 0 Jan 01 00:00 bad\nname",
    " -rw-r--r-- 1 ftp ftp 0 Jan 01 00:00 bad\rname",
    " -rw-r--r-- 1 ftp ftp 0 Jan 01 00:00 bad\r\n213 End",
    "End of status",
  ]);
  assertWellFormed(reply, 213);
});

Deno.test("a single-element array with a line break is still one well-formed reply", () => {
  assertWellFormed(formatReply(550, ["No such file: a\nb"]), 550);
  assertWellFormed(formatReply(550, ["No such file: a\r\n226 ok"]), 550);
});

Deno.test("encodeReply gives the UTF-8 bytes of formatReply", () => {
  const bytes = encodeReply(257, '"/café" created');
  assert.deepEqual(bytes, new TextEncoder().encode('257 "/café" created\r\n'));
});

Deno.test("quotePath wraps the path in quotes and doubles quotes inside", () => {
  assert.equal(quotePath("/"), '"/"');
  assert.equal(quotePath("/home/user"), '"/home/user"');
  assert.equal(quotePath('/a"b'), '"/a""b"');
  assert.equal(quotePath('/"quoted"/x'), '"/""quoted""/x"');
  assert.equal(quotePath('/""'), '"/"""""');
  assert.equal(quotePath("/with space/ünï"), '"/with space/ünï"');
});

Deno.test("quotePath never lets CR, LF or NUL through", () => {
  const quoted = quotePath('/a\r\n257 "/b\0');
  assert.ok(!/[\r\n\0]/.test(quoted), JSON.stringify(quoted));
  assertWellFormed(formatReply(257, `${quoted} is the current directory`), 257);
});

Deno.test("sanitizeReplyText replaces CR, LF and NUL with spaces", () => {
  assert.equal(sanitizeReplyText("a\rb\nc\0d"), "a b c d");
  assert.equal(sanitizeReplyText("plain"), "plain");
});

Deno.test("Reply names every code once, each a three-digit code of RFC 959's classes", () => {
  const codes = Object.values(Reply);
  assert.equal(new Set(codes).size, codes.length, "no code has two names");
  for (const [name, code] of Object.entries(Reply)) {
    assert.ok(Number.isInteger(code) && code >= 110 && code <= 559, `${name}: ${code}`);
  }
  assert.equal(Reply.FileUnavailable, 550);
  assert.equal(Reply.TransferComplete, 226);
});
