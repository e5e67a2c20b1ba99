/**
 * `exftp hash-password`: hash a password for a `users_file`. The password
 * comes from standard input (its first line), or from a prompt without echo,
 * asked twice, when standard input is a terminal. The hash line goes to
 * standard output, everything else to standard error.
 *
 * ```sh
 * printf '%s\n' 'correct horse' | deno run main.ts hash-password
 * deno run main.ts hash-password --iterations 1000000   # prompts
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  MAX_PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
} from "../auth/password_hash.ts";

const HELP = `Usage: exftp hash-password [--iterations N]

Reads a password (the first line of standard input, or a prompt without echo
when standard input is a terminal) and prints its salted PBKDF2-SHA256 hash for
the password_hash of a users_file entry.

Options:
  --iterations N   PBKDF2 iterations (${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS})   default: ${DEFAULT_PBKDF2_ITERATIONS}
  --help           show this help
`;

/** The streams the command talks to (the process's own by default; tests pass others). */
export interface CommandIo {
  /** Where the password comes from. */
  stdin: {
    /** Whether a person is typing (then prompt and turn echo off). */
    isTerminal(): boolean;
    /** Turn the terminal's echo and line editing off or on. */
    setRaw?(mode: boolean): void;
    /** The bytes typed or piped. */
    readable: ReadableStream<Uint8Array>;
  };
  /** Write to standard output. */
  stdout(text: string): Promise<void>;
  /** Write to standard error. */
  stderr(text: string): Promise<void>;
}

const encoder = new TextEncoder();

function processIo(): CommandIo {
  const write = (file: typeof Deno.stdout) => async (text: string) => {
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
  };
  return {
    stdin: {
      isTerminal: () => Deno.stdin.isTerminal(),
      setRaw: (mode) => Deno.stdin.setRaw(mode),
      get readable() {
        return Deno.stdin.readable;
      },
    },
    stdout: write(Deno.stdout),
    stderr: write(Deno.stderr),
  };
}

class Cancelled extends Error {}

/** Reads lines typed in raw mode: no echo, backspace edits, Ctrl-C/Ctrl-D cancel. */
class SecretLineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  // Bytes read past the end of the previous line (pasted text arrives in one chunk).
  #pending: Uint8Array = new Uint8Array();

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }

  async readLine(): Promise<string> {
    const bytes: number[] = [];
    while (true) {
      if (this.#pending.length === 0) {
        const { done, value } = await this.#reader.read();
        if (done) throw new Cancelled();
        this.#pending = value;
        continue;
      }
      const byte = this.#pending[0];
      this.#pending = this.#pending.subarray(1);
      if (byte === 0x0d || byte === 0x0a) {
        // A CR LF pair ends one line, not two.
        if (byte === 0x0d && this.#pending[0] === 0x0a) this.#pending = this.#pending.subarray(1);
        return new TextDecoder().decode(new Uint8Array(bytes));
      }
      if (byte === 0x03 || (byte === 0x04 && bytes.length === 0)) throw new Cancelled();
      if (byte === 0x7f || byte === 0x08) {
        // Drop the last UTF-8 character: its continuation bytes, then its lead byte.
        while (bytes.length > 0 && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
        bytes.pop();
      } else if (byte === 0x15) {
        bytes.length = 0; // Ctrl-U
      } else if (byte >= 0x20 || byte === 0x09) {
        bytes.push(byte);
      }
    }
  }
}

async function promptTwice(io: CommandIo): Promise<string> {
  const reader = io.stdin.readable.getReader();
  const lines = new SecretLineReader(reader);
  io.stdin.setRaw?.(true);
  try {
    await io.stderr("Password: ");
    const first = await lines.readLine();
    await io.stderr("\nRepeat password: ");
    const second = await lines.readLine();
    await io.stderr("\n");
    if (first !== second) throw new Error("the passwords differ");
    return first;
  } finally {
    io.stdin.setRaw?.(false);
    reader.releaseLock();
  }
}

async function readFirstLine(io: CommandIo): Promise<string> {
  const text = await new Response(io.stdin.readable).text();
  return text.split(/\r?\n/)[0];
}

/**
 * Run `hash-password` with its arguments (after the sub-command name).
 *
 * @returns the exit code: 0 printed a hash, 1 no usable password, 2 bad arguments
 */
export async function hashPasswordCommand(
  args: string[],
  io: CommandIo = processIo(),
): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: { iterations: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    await io.stderr(`exftp hash-password: ${(error as Error).message} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    await io.stdout(HELP);
    return 0;
  }
  let iterations = DEFAULT_PBKDF2_ITERATIONS;
  if (values.iterations !== undefined) {
    iterations = /^\d+$/.test(values.iterations) ? Number(values.iterations) : NaN;
    if (
      !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS ||
      iterations > MAX_PBKDF2_ITERATIONS
    ) {
      await io.stderr(
        `exftp hash-password: --iterations must be a whole number from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}, got ${
          JSON.stringify(values.iterations)
        }\n`,
      );
      return 2;
    }
  }
  let password: string;
  try {
    password = io.stdin.isTerminal() ? await promptTwice(io) : await readFirstLine(io);
  } catch (error) {
    if (error instanceof Cancelled) {
      await io.stderr("\nexftp hash-password: cancelled\n");
    } else {
      await io.stderr(`exftp hash-password: ${(error as Error).message}\n`);
    }
    return 1;
  }
  if (password === "") {
    await io.stderr("exftp hash-password: the password is empty\n");
    return 1;
  }
  await io.stdout(`${await hashPassword(password, { iterations })}\n`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await hashPasswordCommand(Deno.args));
}
