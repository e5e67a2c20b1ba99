/**
 * A seeded generator of hostile FTP command lines for the fuzz test: valid verbs with hostile
 * arguments, mutated valid lines, Telnet IAC bytes, binary garbage, lines just under and over
 * the 4 KiB cap. Deterministic for a given seed, so a failure can be replayed with FUZZ_SEED.
 *
 * @module
 */

import { ControlLineSplitter } from "../../src/control/line_reader.ts";

/** mulberry32: a small, fast, seedable 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Convenience wrapper around a PRNG. */
export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** A float in [0, 1). */
  float(): number {
    return this.#next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.#next() < p;
  }
  /** One element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** Random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** What the generator needs to know about the test's surroundings. */
export interface FuzzTarget {
  /** Ports on 127.0.0.1 that PORT/EPRT may point at (sinks owned by the test). */
  safePorts: readonly number[];
  /** The folder that holds the server root; paths aim at it to try escaping. */
  outerDir: string;
  /** A marker put into names aimed outside the root, to look for afterwards. */
  marker: string;
}

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");

/** Every verb the server knows, plus a few it does not. */
export const VERBS = [
  "USER",
  "PASS",
  "QUIT",
  "PASV",
  "EPSV",
  "PORT",
  "EPRT",
  "MKD",
  "XMKD",
  "RMD",
  "XRMD",
  "DELE",
  "RNFR",
  "RNTO",
  "SIZE",
  "MDTM",
  "SYST",
  "FEAT",
  "OPTS",
  "HELP",
  "NOOP",
  "HOST",
  "CLNT",
  "LIST",
  "NLST",
  "STAT",
  "MLSD",
  "MLST",
  "MFMT",
  "PWD",
  "XPWD",
  "CWD",
  "XCWD",
  "CDUP",
  "XCUP",
  "SITE",
  "AUTH",
  "PBSZ",
  "PROT",
  "CCC",
  "RETR",
  "STOR",
  "STOU",
  "APPE",
  "REST",
  "TYPE",
  "MODE",
  "STRU",
  "ALLO",
  "ABOR",
  // not implemented / unknown
  "REIN",
  "ACCT",
  "SMNT",
  "LPRT",
  "LPSV",
  "XRCP",
  "MDTM\u0000",
  "RETR\u00e9",
  "",
] as const;

const HUGE_NUMBERS = [
  "0",
  "-1",
  "-0",
  "+5",
  "1.5",
  "1e309",
  "0x10",
  "NaN",
  "Infinity",
  "-Infinity",
  "2147483647",
  "2147483648",
  "4294967295",
  "4294967296",
  "9007199254740991",
  "9007199254740993",
  "18446744073709551615",
  "18446744073709551616",
  "99999999999999999999999999999999999999",
  "9".repeat(400),
  "00000000000000000000000000001",
  "1 2",
  " 7",
  "٣",
  "１２３",
  "",
];

/** Paths that try to leave the root, hit odd encodings or name existing entries. */
function hostilePaths(target: FuzzTarget): string[] {
  const { outerDir, marker } = target;
  const outerName = outerDir.split("/").pop()!;
  return [
    "..",
    "../",
    "../..",
    "../../../../../../../../",
    "/..",
    "/../..",
    `../${marker}`,
    `../../${marker}`,
    `/../${marker}`,
    `/../../../../${marker}`,
    `d/../../${marker}`,
    `./.././${marker}`,
    `....//${marker}`,
    `..\\${marker}`,
    `..%2f${marker}`,
    `%2e%2e/${marker}`,
    `\uff0e\uff0e/${marker}`, // fullwidth dots
    `..\u2215${marker}`, // division slash
    `${outerDir}/${marker}`,
    `${outerDir}/sentinel.txt`,
    `../sentinel.txt`,
    `../../${outerName}/sentinel.txt`,
    `../emptydir`,
    `../root`,
    `../root/f.txt`,
    "/etc/passwd",
    "../../../../etc/passwd",
    "/proc/self/environ",
    `/tmp/${marker}`,
    "~",
    "~root",
    "C:\\Windows\\win.ini",
    "\\\\server\\share",
    "f.txt",
    "/f.txt",
    "d",
    "d/e.bin",
    "d/",
    "//d//e.bin",
    "/./d/./e.bin",
    ".",
    "/",
    "",
    " ",
    "  leading spaces",
    "trailing space ",
    "-la",
    "-R",
    "-a /",
    "-laR ..",
    "*",
    "*.txt",
    "?",
    "[a-z]",
    "{a,b}",
    "$(id)",
    "`id`",
    "a;b",
    "a|b",
    'quote"name',
    "'single'",
    "ünïcödé.txt",
    "日本語/ファイル",
    "\u{1d11e}\u{1f600}",
    "\u202etxt.exe",
    "\ufeffbom",
    "a\u0000b",
    "\u0000",
    "nul\u0000../../" + marker,
    "\u0007\u0008\u001b[31m",
    "x".repeat(255),
    "x".repeat(256),
    "x/".repeat(300),
    "../".repeat(500),
    "a/".repeat(2000),
    "\ud800",
  ];
}

/** Generates hostile command lines. */
export class FuzzGenerator {
  readonly rng: Rng;
  readonly #target: FuzzTarget;
  readonly #paths: string[];

  constructor(seed: number, target: FuzzTarget) {
    this.rng = new Rng(seed);
    this.#target = target;
    this.#paths = hostilePaths(target);
  }

  /** A line's bytes, with its terminator (CRLF, LF, CR, or a hostile one). */
  line(): Uint8Array {
    for (let attempt = 0; attempt < 100; attempt++) {
      const body = this.#body();
      const bytes = concat(body, this.#terminator());
      if (!this.#aimsElsewhere(bytes)) return bytes;
    }
    return encoder.encode("NOOP\r\n");
  }

  #terminator(): Uint8Array {
    const r = this.rng;
    return encoder.encode(r.pick(["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\n\r\n"]));
  }

  #body(): Uint8Array {
    const r = this.rng;
    const kind = r.int(100);
    if (kind < 50) return encoder.encode(this.#command());
    if (kind < 65) return this.#mutate(encoder.encode(this.#command()));
    if (kind < 70) return this.#nearCap();
    if (kind < 78) return this.#telnet();
    if (kind < 85) return r.bytes(r.range(0, r.chance(0.1) ? 9000 : 64));
    if (kind < 88) return new Uint8Array(r.range(1, r.chance(0.2) ? 6000 : 40)).fill(0xff);
    if (kind < 92) return encoder.encode(r.pick(["", " ", "\t", "\r", "\n\r", "\0", "\r\0\n"]));
    if (kind < 94) return this.#badUtf8();
    return encoder.encode(this.#transferCombo());
  }

  /** A data setup (usually a valid one) and a transfer in the same segment, maybe then ABOR. */
  #transferCombo(): string {
    const r = this.rng;
    const safe = r.pick(this.#target.safePorts);
    const setup = r.chance(0.7)
      ? r.pick([
        "PASV",
        "EPSV",
        `PORT 127,0,0,1,${safe >> 8},${safe & 255}`,
        `EPRT |1|127.0.0.1|${safe}|`,
      ])
      : this.#dataSetup();
    const verb = r.pick(["RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD", "LIST -la"]);
    const name = r.chance(0.5) ? r.pick(["f.txt", "d/e.bin", "d", "new.bin"]) : r.pick(this.#paths);
    const before = r.chance(0.2)
      ? `${r.pick(["REST 5", "REST 999999", "TYPE A", "TYPE I"])}\r\n`
      : "";
    const after = r.chance(0.3) ? `\r\n${r.pick(["ABOR", "STAT", "NOOP", "STAT -l"])}` : "";
    return `${before}${setup}\r\n${verb} ${name}${after}`;
  }

  /** A valid verb with an argument chosen to hurt. */
  #command(): string {
    const r = this.rng;
    const verb = r.pick(VERBS);
    const shown = r.chance(0.15) ? mixCase(r, verb) : verb;
    const arg = this.#argumentFor(verb);
    if (arg === undefined) return shown;
    const space = r.chance(0.05) ? r.pick(["  ", "\t", "\u00a0"]) : " ";
    return `${shown}${space}${arg}`;
  }

  #argumentFor(verb: string): string | undefined {
    const r = this.rng;
    const num = () => r.pick(HUGE_NUMBERS);
    const path = () => r.pick(this.#paths);
    if (r.chance(0.05)) return undefined;
    switch (verb) {
      case "USER":
        return r.pick(["fuzz", "root", "ROOT", "", " ", "anonymous", "a".repeat(4000), path()]);
      case "PASS":
        return r.pick(["", "secret", "x".repeat(3000), path()]);
      case "PORT":
      case "EPRT":
      case "PASV":
      case "EPSV":
        return this.#dataSetup().slice(verb.length + 1);
      case "REST":
      case "ALLO":
      case "PBSZ":
        return r.chance(0.2) ? `${num()} R ${num()}` : num();
      case "MFMT":
        return `${
          r.pick([
            "20260101120000",
            "99999999999999",
            "00000000000000",
            "20261301250000",
            "19691231235959",
            "30000101000000",
            "2026010112000",
            "202601011200000",
            num(),
          ])
        } ${path()}`;
      case "SITE":
        return r.pick([
          `CHMOD ${r.pick(["755", "7777777777", "-1", "0", "999", "abc", ""])} ${path()}`,
          "HELP",
          "CHMOD",
          `UMASK ${num()}`,
          `EXEC ${path()}`,
          path(),
        ]);
      case "TYPE":
        return r.pick(["A", "I", "L 8", "L 9999", "A N", "E", "I I", "a", num(), path()]);
      case "MODE":
        return r.pick(["S", "B", "C", "Z", num()]);
      case "STRU":
        return r.pick(["F", "R", "P", num()]);
      case "OPTS":
        return r.pick([
          "UTF8 ON",
          "UTF8 OFF",
          "UTF8",
          "MLST type;size;modify;perm;unix.mode;",
          "MLST " + "x;".repeat(1000),
          "MLST ;;;",
          "MLST",
          "HASH SHA-512",
          path(),
        ]);
      case "HOST":
        return r.pick(["localhost", "[::1]", "", "a".repeat(300), "xn--", path()]);
      case "AUTH":
        return r.pick(["TLS", "SSL", "TLS-C", "KERBEROS_V4", "", num()]);
      case "PROT":
        return r.pick(["C", "P", "S", "E", num()]);
      case "STAT":
      case "LIST":
      case "NLST":
        return r.chance(0.3) ? `${r.pick(["-a", "-l", "-la", "-R", "--", "-"])} ${path()}` : path();
      case "HELP":
        return r.pick(VERBS) as string;
      case "CLNT":
        return r.pick(["curl", "x".repeat(5000), path()]);
      default:
        return path();
    }
  }

  /** PASV/EPSV/PORT/EPRT, valid (aimed at a sink) or hostile. */
  #dataSetup(): string {
    const r = this.rng;
    const safe = r.pick(this.#target.safePorts);
    const hi = safe >> 8;
    const lo = safe & 255;
    const num = () => r.pick(HUGE_NUMBERS);
    switch (r.int(4)) {
      case 0:
        return r.pick(["PASV", "PASV 1", "PASV " + num()]);
      case 1:
        return r.pick(["EPSV", "EPSV 1", "EPSV 2", "EPSV ALL", "EPSV 3", "EPSV " + num()]);
      case 2:
        return "PORT " + r.pick([
          `127,0,0,1,${hi},${lo}`,
          `127,0,0,2,${hi},${lo}`,
          `127,0,0,1,0,21`,
          `127,0,0,1,3,255`, // port 1023
          `127,0,0,1,256,1`,
          `127,0,0,1,${num()},${num()}`,
          `${num()},${num()},${num()},${num()},${num()},${num()}`,
          `127,0,0,1,${hi}`,
          `127,0,0,1,${hi},${lo},7`,
          `127.0.0.1,${hi},${lo}`,
          `,,,,,`,
          `-127,0,0,1,${hi},${lo}`,
          `10,0,0,1,${hi},${lo}`,
          `0,0,0,0,${hi},${lo}`,
          `255,255,255,255,${hi},${lo}`,
        ]);
      default: {
        const d = r.pick(["|", "|", "!", "#", "\u00a7", " ", "\u0001", ""]);
        return "EPRT " + r.pick([
          `${d}1${d}127.0.0.1${d}${safe}${d}`,
          `${d}1${d}127.0.0.2${d}${safe}${d}`,
          `${d}2${d}::1${d}${safe}${d}`,
          `${d}2${d}::ffff:127.0.0.1${d}${safe}${d}`,
          `${d}1${d}127.0.0.1${d}21${d}`,
          `${d}1${d}127.0.0.1${d}${num()}${d}`,
          `${d}3${d}127.0.0.1${d}${safe}${d}`,
          `${d}1${d}999.0.0.1${d}${safe}${d}`,
          `${d}1${d}127.0.0.1${d}${safe}`,
          `${d}${d}${d}${d}`,
          `${d}1${d}${"1.".repeat(2000)}${d}${safe}${d}`,
        ]);
      }
    }
  }

  /** Flip, insert, delete or duplicate bytes of a valid line. */
  #mutate(bytes: Uint8Array): Uint8Array {
    const r = this.rng;
    const out = [...bytes];
    const n = r.range(1, 4);
    for (let i = 0; i < n; i++) {
      const at = r.int(out.length + 1);
      switch (r.int(5)) {
        case 0:
          if (out.length) out[Math.min(at, out.length - 1)] ^= 1 << r.int(8);
          break;
        case 1:
          out.splice(at, 0, r.pick([0x00, 0x0d, 0x0a, 0xff, 0xf4, 0xf2, 0xfb, 0x80, 0xc0, 0x20]));
          break;
        case 2:
          out.splice(at, 1);
          break;
        case 3:
          out.splice(at, 0, ...out.slice(0, r.int(out.length + 1)));
          break;
        default:
          out.splice(at, 0, ...r.bytes(r.range(1, 8)));
      }
    }
    return Uint8Array.from(out);
  }

  /** Lines of 4093..4100 bytes and much longer, around the 4 KiB cap. */
  #nearCap(): Uint8Array {
    const r = this.rng;
    const verb = r.pick(["CWD", "MKD", "RETR", "NOOP", "SITE", "XYZ"]);
    const total = r.chance(0.8) ? r.range(4093, 4100) : r.pick([8191, 8192, 8193, 70000]);
    const fill = r.pick(["a", "é", "/", ".", " ", "\u{1f600}"]);
    const head = `${verb} `.length;
    const bytes = encoder.encode(
      `${verb} ${fill.repeat(Math.floor((total - head) / encoder.encode(fill).length))}`,
    );
    const pad = total - bytes.length; // a multi-byte fill may leave a few bytes
    return concat(bytes, encoder.encode("b".repeat(Math.max(0, pad))));
  }

  /** Telnet IAC sequences, as lftp, ftplib and broken clients send them. */
  #telnet(): Uint8Array {
    const r = this.rng;
    const pieces: Uint8Array[] = [];
    const n = r.range(1, 6);
    for (let i = 0; i < n; i++) {
      pieces.push(
        r.pick([
          Uint8Array.of(0xff, 0xf4, 0xff, 0xf2), // IAC IP IAC DM
          Uint8Array.of(0xff, 0xf4, 0xff),
          Uint8Array.of(0xff, 0xff),
          Uint8Array.of(0xff, 0xfb, 0x01), // IAC WILL ECHO
          Uint8Array.of(0xff, 0xfd, 0x03), // IAC DO SGA
          Uint8Array.of(0xff, 0xfe),
          Uint8Array.of(0xff),
          Uint8Array.of(0xff, 0xf0),
          encoder.encode(r.pick(["ABOR", "STAT", "QUIT", "NOOP", "LIST", "xx"])),
          encoder.encode(this.#command()),
        ]),
      );
    }
    return concat(...pieces);
  }

  /** Invalid and odd UTF-8. */
  #badUtf8(): Uint8Array {
    const r = this.rng;
    const verb = encoder.encode(r.pick(["CWD ", "MKD ", "RETR ", "USER ", "", "NLST "]));
    const bad = r.pick([
      [0xc0, 0xaf], // overlong "/"
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80], // surrogate
      [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
      [0x80, 0x80, 0x80],
      [0xfe, 0xfe],
      [0xc3],
      [0x2e, 0x2e, 0xc0, 0xaf, 0x2e, 0x2e], // ..%c0%af..
    ]);
    return concat(verb, Uint8Array.from(bad), encoder.encode(r.chance(0.5) ? "x" : ""));
  }

  /**
   * Whether the server would read a PORT/EPRT out of these bytes that points at a port other
   * than the test's sinks (another test's listener could be hit). Uses the server's own line
   * splitter on a fresh state, the way the fuzz test sends each line.
   */
  #aimsElsewhere(bytes: Uint8Array): boolean {
    const splitter = new ControlLineSplitter(4096);
    for (const { text, tooLong } of splitter.push(concat(bytes, CRLF))) {
      if (tooLong) continue;
      const port = activeTargetPort(text);
      if (port !== undefined && !this.#target.safePorts.includes(port)) return true;
    }
    return false;
  }
}

/**
 * The port a PORT/EPRT line would make the server connect to (mirrors the server's parsing,
 * but whatever the address), or undefined when the server would refuse it.
 */
export function activeTargetPort(text: string): number | undefined {
  const space = text.indexOf(" ");
  const verb = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  const argument = space < 0 ? "" : text.slice(space + 1);
  if (verb === "PORT") {
    const parts = argument.trim().split(",");
    const numbers = parts.map((part) => /^\d{1,3}$/.test(part.trim()) ? Number(part) : NaN);
    if (numbers.length !== 6 || numbers.some((n) => !(n >= 0 && n <= 255))) return undefined;
    return numbers[4] * 256 + numbers[5];
  }
  if (verb === "EPRT") {
    const fields = argument.trim().split(argument.trim()[0]);
    if (fields.length !== 5) return undefined;
    const port = /^\d{1,5}$/.test(fields[3]) ? Number(fields[3]) : NaN;
    return port >= 1 && port <= 65535 ? port : undefined;
  }
  return undefined;
}

function mixCase(r: Rng, text: string): string {
  return [...text].map((c) => (r.chance(0.5) ? c.toLowerCase() : c)).join("");
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
