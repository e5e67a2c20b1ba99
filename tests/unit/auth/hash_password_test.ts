import assert from "node:assert/strict";
import { type CommandIo, hashPasswordCommand } from "../../../src/config/hash_password.ts";
import { verifyPassword } from "../../../src/auth/password_hash.ts";

/** Fake streams: the bytes typed, and what the command wrote. */
function fakeIo(input: string | Uint8Array[], terminal = false) {
  const out: string[] = [];
  const err: string[] = [];
  const raw: boolean[] = [];
  const chunks = typeof input === "string" ? [new TextEncoder().encode(input)] : input;
  const io: CommandIo = {
    stdin: {
      isTerminal: () => terminal,
      setRaw: (mode) => void raw.push(mode),
      readable: ReadableStream.from(chunks),
    },
    stdout: (text) => Promise.resolve(void out.push(text)),
    stderr: (text) => Promise.resolve(void err.push(text)),
  };
  return { io, out, err, raw };
}

Deno.test("hash-password hashes the first line of piped input", async () => {
  const { io, out, err } = fakeIo("correct horse\r\nignored\n");
  assert.equal(await hashPasswordCommand(["--iterations", "1000"], io), 0);
  assert.equal(out.length, 1);
  assert.match(out[0], /^pbkdf2-sha256\$1000\$\S+\n$/);
  assert.ok(await verifyPassword("correct horse", out[0].trim()));
  assert.deepEqual(err, []);
});

Deno.test("hash-password prompts twice without echo on a terminal, with backspace", async () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const { io, out, err, raw } = fakeIo(
    [bytes("sécret"), bytes("x\x7f\r"), bytes("sécret\n")],
    true,
  );
  assert.equal(await hashPasswordCommand(["--iterations", "1000"], io), 0);
  assert.ok(await verifyPassword("sécret", out[0].trim()));
  assert.deepEqual(raw, [true, false], "echo off, then restored");
  assert.ok(!err.join("").includes("sécret"), "the password is not echoed");
  assert.match(err.join(""), /^Password: \nRepeat password: \n$/);
});

Deno.test("hash-password refuses different repeats, Ctrl-C, empty input and bad flags", async () => {
  const mismatch = fakeIo("one\rtwo\r", true);
  assert.equal(await hashPasswordCommand([], mismatch.io), 1);
  assert.match(mismatch.err.join(""), /the passwords differ/);
  assert.deepEqual(mismatch.raw, [true, false]);
  assert.deepEqual(mismatch.out, []);

  const cancelled = fakeIo("abc\x03", true);
  assert.equal(await hashPasswordCommand([], cancelled.io), 1);
  assert.match(cancelled.err.join(""), /cancelled/);

  const empty = fakeIo("\n");
  assert.equal(await hashPasswordCommand([], empty.io), 1);
  assert.match(empty.err.join(""), /the password is empty/);

  for (const args of [["--iterations", "12"], ["--iterations", "many"], ["--nope"], ["extra"]]) {
    const bad = fakeIo("pw\n");
    assert.equal(await hashPasswordCommand(args, bad.io), 2, args.join(" "));
    assert.deepEqual(bad.out, []);
  }
  const help = fakeIo("");
  assert.equal(await hashPasswordCommand(["--help"], help.io), 0);
  assert.match(help.out.join(""), /Usage: exftp hash-password/);
});

Deno.test("hash-password as a process: stdin in, one verifiable hash line out", async () => {
  const script = new URL("../../../src/config/hash_password.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("open sesame\n"));
  await writer.close();
  const { code, stdout } = await child.output();
  const line = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  assert.match(line, /^pbkdf2-sha256\$600000\$[^$\s]+\$[^$\s]+\n$/);
  assert.ok(await verifyPassword("open sesame", line.trim()));
});
