/**
 * Splits the bytes of an FTP control connection into command lines.
 *
 * Real clients send lines in pieces, several per segment, ending in CRLF, a
 * bare LF or a lone CR (python's `ftplib.abort()`), with Telnet IAC sequences
 * mixed in (lftp sends `IAC IP IAC DM ABOR`). The splitter strips the Telnet
 * sequences from the bytes before decoding UTF-8, caps the line length, and
 * decodes invalid UTF-8 with replacement characters instead of failing.
 *
 * @module
 */

/** One line received from the client. */
export interface ControlLine {
  /** The decoded line without its terminator; empty when {@linkcode tooLong}. */
  readonly text: string;
  /** True when the line exceeded the cap; its bytes were discarded. */
  readonly tooLong: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const IAC = 0xff;
// Telnet option negotiation verbs carry one option byte after them.
const WILL = 0xfb;
const DONT = 0xfe;
const TELNET_COMMAND_MIN = 0xf0;

const enum TelnetState {
  Data,
  Command,
  Option,
}

/** The default cap on one control line, in bytes. */
export const DEFAULT_MAX_LINE_BYTES = 4096;

/**
 * Bytes read from the connection at a time. An idle session always has a read
 * pending, which holds this buffer: with 8 KiB, 10,000 idle sessions held
 * 80 MiB in read buffers alone (bench/README.md). Command lines are short; a
 * longer one just takes several reads.
 */
export const READ_BUFFER_BYTES = 512;
/** The splitter's first line buffer; it grows (to the cap) only for longer lines. */
const FIRST_LINE_BUFFER_BYTES = 64;
/** A line buffer grown beyond this is dropped after its line, not kept for the session. */
const KEPT_LINE_BUFFER_BYTES = 512;
const NO_BYTES = new Uint8Array(0);
// Stateless without `stream: true`, so every session can share it.
const decoder = new TextDecoder("utf-8", { fatal: false });

/** A push-style splitter: feed it chunks, get back complete lines. */
export class ControlLineSplitter {
  readonly #maxBytes: number;
  #buffer: Uint8Array = NO_BYTES;
  #length = 0;
  #overflow = false;
  #afterCR = false;
  #telnet = TelnetState.Data;

  /** @param maxBytes longest line accepted, terminator excluded */
  constructor(maxBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of line buffer this splitter holds now (kept small between lines). */
  get retainedBytes(): number {
    return this.#buffer.byteLength;
  }

  /** Feed bytes; returns the lines they completed, in order. */
  push(chunk: Uint8Array): ControlLine[] {
    const lines: ControlLine[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.#telnet === TelnetState.Command) {
        this.#telnet = TelnetState.Data;
        if (byte === IAC) {
          this.#append(IAC); // IAC IAC is an escaped 0xff data byte
          continue;
        }
        if (byte >= WILL && byte <= DONT) {
          this.#telnet = TelnetState.Option;
          continue;
        }
        // Telnet commands are 240..254. lftp sends IAC IP IAC and then the DM as
        // urgent data, so the byte after the last IAC is the command's first
        // letter: a byte below 240 is data, handled as such below.
        if (byte >= TELNET_COMMAND_MIN) continue;
      }
      if (this.#telnet === TelnetState.Option) {
        this.#telnet = TelnetState.Data;
        continue;
      }
      if (byte === IAC) {
        this.#telnet = TelnetState.Command;
        continue;
      }
      if (byte === LF && this.#afterCR) {
        this.#afterCR = false; // the LF of a CRLF whose CR already ended the line
        continue;
      }
      this.#afterCR = false;
      if (byte === CR || byte === LF) {
        this.#afterCR = byte === CR;
        lines.push(this.#takeLine());
        continue;
      }
      this.#append(byte);
    }
    return lines;
  }

  #append(byte: number): void {
    if (this.#overflow) return;
    if (this.#length >= this.#maxBytes) {
      this.#overflow = true;
      return;
    }
    if (this.#length === this.#buffer.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(this.#buffer.length * 2, FIRST_LINE_BUFFER_BYTES), this.#maxBytes),
      );
      grown.set(this.#buffer);
      this.#buffer = grown;
    }
    this.#buffer[this.#length++] = byte;
  }

  #takeLine(): ControlLine {
    const line: ControlLine = this.#overflow
      ? { text: "", tooLong: true }
      : { text: decoder.decode(this.#buffer.subarray(0, this.#length)), tooLong: false };
    this.#length = 0;
    this.#overflow = false;
    if (this.#buffer.length > KEPT_LINE_BUFFER_BYTES) this.#buffer = NO_BYTES;
    return line;
  }
}

/**
 * Read lines from a byte source until it ends. Lines are yielded one by one so
 * that a client cannot make the server buffer unbounded replies: the caller
 * answers a line before the next is read. A chunk is split one line at a
 * time, so lines the caller hasn't asked for yet stay raw bytes in the read
 * buffer (a chunk of short lines decoded at once costs ten times its size).
 */
export async function* readControlLines(
  source: { read(p: Uint8Array): Promise<number | null> },
  maxBytes: number = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<ControlLine> {
  const splitter = new ControlLineSplitter(maxBytes);
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  while (true) {
    const n = await source.read(buffer);
    if (n === null) return;
    let start = 0;
    while (start < n) {
      const end = nextTerminator(buffer, start, n);
      // Up to and including one terminator: at most one line.
      for (const line of splitter.push(buffer.subarray(start, end))) yield line;
      start = end;
    }
  }
}

/** The index after the first CR or LF in `buffer[from, to)`, or `to`. */
function nextTerminator(buffer: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (buffer[i] === CR || buffer[i] === LF) return i + 1;
  }
  return to;
}
