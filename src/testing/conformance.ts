/**
 * The storage connector conformance suite: every capability and edge case a
 * {@linkcode StorageConnector} must get right for the FTP server to behave —
 * the same suite the built-in `file`, `memory` and `s3` connectors pass.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { StorageError, type StorageErrorKind } from "../errors.ts";
import type { FileInfo, StorageConnector } from "../storage/types.ts";

/** A fresh, empty connector for one step, and how to tidy up after it. */
export interface ConformanceSubject {
  /** The connector under test; its tree must start empty. */
  connector: StorageConnector;
  /** Release everything the connector used (temporary folders, prefixes, clients). */
  cleanup(): void | Promise<void>;
}

/** Makes a fresh {@linkcode ConformanceSubject}; called once per step. */
export type MakeConnector = () => Promise<ConformanceSubject>;

/** Options of {@linkcode runConformance} and {@linkcode testConformance}. */
export interface ConformanceOptions {
  /** Size of the large file streamed through write and read. @default {24 MiB} */
  largeFileBytes?: number;
  /** Entries in the folder listed in full. @default {150} */
  manyEntries?: number;
  /**
   * Whether the connector writes at an offset and appends. When false, such
   * writes must be refused with a `StorageError` and leave the file intact.
   * @default {true}
   */
  partialWrites?: boolean;
  /** Skip these steps, by exact name (say why in your test's name or comments). */
  skip?: string[];
  /** Passed to `Deno.test`: ignore the whole suite (e.g. a backend is missing). @default {false} */
  ignore?: boolean;
  /** Passed to `Deno.test`. @default {true} */
  sanitizeResources?: boolean;
  /** Passed to `Deno.test`. @default {true} */
  sanitizeOps?: boolean;
}

interface Step {
  name: string;
  run(connector: StorageConnector, options: Required<SuiteSettings>): Promise<void>;
}

interface SuiteSettings {
  largeFileBytes: number;
  manyEntries: number;
  partialWrites: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MIB = 1024 * 1024;

/**
 * Register one `Deno.test` named `name` whose steps run `makeConnector`'s
 * connector through the whole suite, each step on a fresh connector.
 *
 * @example
 * ```ts ignore
 * // my_connector_test.ts — run with `deno test -A`
 * import { runConformance } from "@exftp/server/testing";
 * import { MyStorage } from "./my_storage.ts";
 *
 * runConformance("MyStorage", async () => {
 *   const storage = new MyStorage({ root: await Deno.makeTempDir() });
 *   return { connector: storage, cleanup: () => storage.destroy() };
 * });
 * ```
 */
export function runConformance(
  name: string,
  makeConnector: MakeConnector,
  options: ConformanceOptions = {},
): void {
  Deno.test({
    name,
    ignore: options.ignore ?? false,
    sanitizeResources: options.sanitizeResources ?? true,
    sanitizeOps: options.sanitizeOps ?? true,
    fn: (t) => testConformance(t, makeConnector, options),
  });
}

/**
 * Run the suite as steps of an existing test — for connectors whose backend
 * the test itself starts and stops (a server process, a container).
 *
 * @example
 * ```ts ignore
 * import { testConformance } from "@exftp/server/testing";
 *
 * Deno.test("MyStorage against a real server", async (t) => {
 *   await using backend = await startBackend();
 *   await testConformance(t, async () => {
 *     const storage = backend.freshStorage();
 *     return { connector: storage, cleanup: () => {} };
 *   });
 * });
 * ```
 */
export async function testConformance(
  t: Deno.TestContext,
  makeConnector: MakeConnector,
  options: ConformanceOptions = {},
): Promise<void> {
  const settings: Required<SuiteSettings> = {
    largeFileBytes: options.largeFileBytes ?? 24 * MIB,
    manyEntries: options.manyEntries ?? 150,
    partialWrites: options.partialWrites ?? true,
  };
  const skip = new Set(options.skip ?? []);
  const unknown = [...skip].filter((name) => !STEPS.some((step) => step.name === name));
  if (unknown.length > 0) throw new RangeError(`Unknown conformance steps: ${unknown.join(", ")}`);
  for (const step of STEPS) {
    await t.step({
      name: step.name,
      ignore: skip.has(step.name),
      fn: async () => {
        const subject = await makeConnector();
        try {
          await step.run(subject.connector, settings);
        } finally {
          await subject.cleanup();
        }
      },
    });
  }
}

/** The names of every step, in order (for {@linkcode ConformanceOptions.skip}). */
export function conformanceStepNames(): string[] {
  return STEPS.map((step) => step.name);
}

// ---- helpers ----

function fail(message: string): never {
  throw new Error(message);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

function equal<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function sameList(actual: string[], expected: string[], what: string): void {
  const a = [...actual].sort();
  const e = [...expected].sort();
  if (a.length !== e.length || a.some((value, i) => value !== e[i])) {
    fail(`${what}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
  }
}

/** Expect a `StorageError` of one of `kinds`. */
async function rejectsWith(
  action: () => Promise<unknown>,
  kinds: StorageErrorKind | StorageErrorKind[],
  what: string,
): Promise<void> {
  const allowed = Array.isArray(kinds) ? kinds : [kinds];
  let outcome: unknown;
  try {
    await action();
  } catch (error) {
    outcome = error;
  }
  if (outcome === undefined) fail(`${what}: expected a ${allowed.join("/")} error, but it worked`);
  if (!(outcome instanceof StorageError)) {
    fail(`${what}: expected a StorageError (${allowed.join("/")}), got ${String(outcome)}`);
  }
  if (!allowed.includes(outcome.kind)) {
    fail(`${what}: expected ${allowed.join("/")}, got ${outcome.kind} (${outcome.message})`);
  }
}

/** Whether a promise rejects (with anything). */
async function rejects(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return false;
  } catch {
    return true;
  }
}

/** A stream of `bytes` in chunks of `chunkSize`, each a fresh copy. */
function streamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

function textStream(text: string): ReadableStream<Uint8Array> {
  return streamOf(encoder.encode(text));
}

async function readBytes(
  connector: StorageConnector,
  path: string,
  offset?: number,
): Promise<Uint8Array> {
  const stream = await connector.read(path, offset === undefined ? undefined : { offset });
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function readText(connector: StorageConnector, path: string, offset?: number) {
  return decoder.decode(await readBytes(connector, path, offset));
}

async function writeText(connector: StorageConnector, path: string, text: string) {
  const written = await connector.write(path, textStream(text));
  equal(written, encoder.encode(text).length, `bytes reported for ${path}`);
}

async function listAll(connector: StorageConnector, path: string): Promise<FileInfo[]> {
  const entries: FileInfo[] = [];
  for await (const entry of connector.list(path)) entries.push(entry);
  return entries;
}

async function listNames(connector: StorageConnector, path: string): Promise<string[]> {
  return (await listAll(connector, path)).map((entry) => entry.name);
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, length)));
  }
  return bytes;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) fail(`${what}: first difference at byte ${i}`);
  }
}

/**
 * A large pseudo-random stream made on the fly (never held whole), with odd
 * chunk sizes, and its SHA-256 once it has been read to the end.
 */
function largeStream(length: number, seed: number): {
  stream: ReadableStream<Uint8Array>;
  digest: () => string;
} {
  const hash = createHash("sha256");
  let state = seed | 1;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= length) {
        controller.close();
        return;
      }
      const n = Math.min(65_537 + (sent % 3) * 4093, length - sent);
      const chunk = new Uint8Array(n);
      const words = new Uint32Array(chunk.buffer, 0, n >> 2);
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state;
      }
      for (let i = words.length * 4; i < n; i++) chunk[i] = i & 0xff;
      hash.update(chunk);
      controller.enqueue(chunk);
      sent += n;
    },
  });
  return { stream, digest: () => hash.digest("hex") };
}

async function digestOf(
  stream: ReadableStream<Uint8Array>,
): Promise<{ hex: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest("hex"), bytes };
}

/** A stream that sends `bytes`, then fails as a dropped client would. */
function failingStream(bytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) {
        controller.error(new Error("injected: the client went away"));
        return;
      }
      const n = Math.min(256 * 1024, bytes - sent);
      controller.enqueue(new Uint8Array(n).fill(0x55));
      sent += n;
    },
  });
}

/** A stream that never ends on its own: data until `stopAt` bytes, then it waits. */
function endlessStream(stopAt: number, onStalled: () => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= stopAt) {
        onStalled();
        return new Promise(() => {}); // stall until cancelled
      }
      const n = Math.min(256 * 1024, stopAt - sent);
      controller.enqueue(new Uint8Array(n).fill(0x66));
      sent += n;
    },
  });
}

async function expectText(connector: StorageConnector, path: string, text: string, what: string) {
  equal(await readText(connector, path), text, what);
}

function recent(time: Date | undefined, what: string): void {
  if (time === undefined) return; // optional in FileInfo
  check(time instanceof Date && !isNaN(time.getTime()), `${what}: mtime must be a valid Date`);
  const skew = Math.abs(Date.now() - time.getTime());
  check(skew < 10 * 60 * 1000, `${what}: mtime ${time.toISOString()} is not about now`);
}

// ---- the steps ----

const STEPS: Step[] = [
  {
    name: "the root is an empty folder",
    async run(c) {
      const root = await c.stat("/");
      equal(root.type, "directory", "stat / type");
      sameList(await listNames(c, "/"), [], "listing of an empty root");
    },
  },
  {
    name: "a small file is stored and read back exactly",
    async run(c) {
      const data = randomBytes(10_001);
      const written = await c.write("/small.bin", streamOf(data, 4096));
      equal(written, data.length, "bytes reported by write");
      const info = await c.stat("/small.bin");
      equal(info.type, "file", "type");
      equal(info.name, "small.bin", "name");
      equal(info.size, data.length, "size");
      recent(info.mtime, "small.bin");
      sameBytes(await readBytes(c, "/small.bin"), data, "read back");
    },
  },
  {
    name: "an empty file is a file of size 0",
    async run(c) {
      equal(await c.write("/empty.txt", streamOf(new Uint8Array())), 0, "bytes reported");
      const info = await c.stat("/empty.txt");
      equal(info.type, "file", "type");
      equal(info.size, 0, "size");
      equal((await readBytes(c, "/empty.txt")).length, 0, "bytes read");
      const listed = (await listAll(c, "/")).find((entry) => entry.name === "empty.txt");
      check(listed, "the empty file is listed");
      equal(listed.size, 0, "listed size");
      await writeText(c, "/was-full.txt", "something");
      await c.write("/was-full.txt", streamOf(new Uint8Array()));
      equal((await c.stat("/was-full.txt")).size, 0, "a file overwritten with nothing");
    },
  },
  {
    name: "names match exactly, never as prefixes",
    async run(c) {
      await writeText(c, "/dir.txt", "not a folder");
      await rejectsWith(() => c.stat("/dir"), "not_found", "stat /dir beside /dir.txt");
      await rejectsWith(() => c.read("/dir"), "not_found", "read /dir beside /dir.txt");
      await rejectsWith(() => c.stat("/dir.tx"), "not_found", "stat a prefix of a name");
      await c.mkdir("/a");
      await writeText(c, "/ab.txt", "x");
      await writeText(c, "/a.txt", "y");
      equal((await c.stat("/a")).type, "directory", "/a beside /ab.txt and /a.txt");
      equal((await c.stat("/a.txt")).type, "file", "/a.txt beside /a");
      sameList(await listNames(c, "/a"), [], "the folder /a holds nothing of /ab.txt");
      await rejectsWith(() => c.stat("/ab"), "not_found", "stat /ab beside /ab.txt");
      await rejectsWith(() => c.list("/ab")[Symbol.asyncIterator]().next(), [
        "not_found",
      ], "list /ab beside /ab.txt");
      await c.rmdir("/a"); // empty, whatever /ab.txt and /a.txt say
      await rejectsWith(() => c.stat("/a"), "not_found", "stat /a after rmdir");
      sameList(await listNames(c, "/"), ["dir.txt", "ab.txt", "a.txt"], "root after all that");
    },
  },
  {
    name: "a large file streams through intact",
    async run(c, { largeFileBytes }) {
      const { stream, digest } = largeStream(largeFileBytes, 0x2545f491);
      const written = await c.write("/large.bin", stream);
      equal(written, largeFileBytes, "bytes reported by write");
      const expected = digest();
      equal((await c.stat("/large.bin")).size, largeFileBytes, "size");
      const got = await digestOf(await c.read("/large.bin"));
      equal(got.bytes, largeFileBytes, "bytes read");
      equal(got.hex, expected, "sha256 of what was read");
      const offset = Math.floor(largeFileBytes / 3) + 7;
      const tail = await digestOf(await c.read("/large.bin", { offset }));
      equal(tail.bytes, largeFileBytes - offset, "bytes read from an offset");
    },
  },
  {
    name: "reads start at the given offset",
    async run(c) {
      const data = randomBytes(300_000);
      await c.write("/offsets.bin", streamOf(data));
      for (const offset of [0, 1, 65_535, 65_536, 65_537, data.length - 1, data.length]) {
        sameBytes(
          await readBytes(c, "/offsets.bin", offset),
          data.subarray(offset),
          `read from ${offset}`,
        );
      }
    },
  },
  {
    name: "a cancelled read leaves the file usable",
    async run(c) {
      const data = randomBytes(2 * MIB);
      await c.write("/cancel.bin", streamOf(data));
      const stream = await c.read("/cancel.bin");
      const reader = stream.getReader();
      const first = await reader.read();
      check(!first.done, "the first chunk arrives");
      await reader.cancel();
      sameBytes(await readBytes(c, "/cancel.bin"), data, "read after a cancelled read");
      await c.remove("/cancel.bin");
    },
  },
  {
    name: "a write replaces the whole previous file",
    async run(c) {
      await writeText(c, "/replace.txt", "a long first version");
      await writeText(c, "/replace.txt", "short");
      await expectText(c, "/replace.txt", "short", "content after replacing");
      equal((await c.stat("/replace.txt")).size, 5, "size after replacing");
    },
  },
  {
    name: "append adds to the end and creates missing files",
    async run(c, { partialWrites }) {
      await writeText(c, "/log.txt", "one\n");
      const attempt = () => c.write("/log.txt", textStream("two\n"), { position: "append" });
      if (!partialWrites) {
        await rejectsWith(attempt, ["permission_denied", "io"], "append when unsupported");
        await expectText(c, "/log.txt", "one\n", "file intact after a refused append");
        return;
      }
      equal(await attempt(), 4, "bytes reported by append");
      await expectText(c, "/log.txt", "one\ntwo\n", "content after append");
      await c.write("/new-log.txt", textStream("first"), { position: "append" });
      await expectText(c, "/new-log.txt", "first", "append to a missing file");
    },
  },
  {
    name: "a write at an offset keeps what is before it and drops what follows",
    async run(c, { partialWrites }) {
      await writeText(c, "/resume.txt", "hello world");
      const attempt = () => c.write("/resume.txt", textStream("!!"), { position: 5 });
      if (!partialWrites) {
        await rejectsWith(attempt, ["permission_denied", "io"], "offset write when unsupported");
        await expectText(c, "/resume.txt", "hello world", "file intact after a refused write");
        return;
      }
      equal(await attempt(), 2, "bytes reported by an offset write");
      await expectText(c, "/resume.txt", "hello!!", "content after an offset write");
      const big = randomBytes(6 * MIB + 3);
      await c.write("/resume.bin", streamOf(big.subarray(0, 4 * MIB)));
      await c.write("/resume.bin", streamOf(big.subarray(3 * MIB)), { position: 3 * MIB });
      sameBytes(await readBytes(c, "/resume.bin"), big, "a resumed large upload");
    },
  },
  {
    name: "exclusive writes create only new files, one winner among many",
    async run(c) {
      await c.write("/unique.txt", textStream("mine"), { exclusive: true });
      await expectText(c, "/unique.txt", "mine", "exclusive write of a new file");
      await rejectsWith(
        () => c.write("/unique.txt", textStream("theirs"), { exclusive: true }),
        "already_exists",
        "exclusive write over an existing file",
      );
      await expectText(c, "/unique.txt", "mine", "file intact after a refused exclusive write");
      const results = await Promise.allSettled(
        Array.from(
          { length: 6 },
          (_, i) => c.write("/race.txt", textStream(`writer ${i}`), { exclusive: true }),
        ),
      );
      const winners = results.flatMap((result, i) => result.status === "fulfilled" ? [i] : []);
      equal(winners.length, 1, "exclusive writers that won");
      for (const result of results) {
        if (result.status === "rejected") {
          check(
            result.reason instanceof StorageError && result.reason.kind === "already_exists",
            `a losing exclusive writer fails with already_exists, got ${String(result.reason)}`,
          );
        }
      }
      await expectText(c, "/race.txt", `writer ${winners[0]}`, "the winner's content");
    },
  },
  {
    name: "unicode and space names work everywhere",
    async run(c) {
      const folder = "/ünïcödé 日本語 folder";
      const file = `${folder}/file with  two spaces (1) 100% 😀.txt`;
      await c.mkdir(folder);
      await writeText(c, file, "unicode");
      sameList(await listNames(c, "/"), ["ünïcödé 日本語 folder"], "root listing");
      sameList(await listNames(c, folder), ["file with  two spaces (1) 100% 😀.txt"], "listing");
      await expectText(c, file, "unicode", "read");
      const renamed = `${folder}/ñew näme ½.txt`;
      await c.rename(file, renamed);
      await expectText(c, renamed, "unicode", "read after rename");
      await rejectsWith(() => c.stat(file), "not_found", "old unicode name after rename");
      await c.remove(renamed);
      await c.rmdir(folder);
    },
  },
  {
    name: "folders are made, listed and persist while empty",
    async run(c) {
      await c.mkdir("/docs");
      await c.mkdir("/docs/empty");
      await writeText(c, "/docs/readme.txt", "read me");
      const entries = await listAll(c, "/docs");
      sameList(entries.map((e) => `${e.type}:${e.name}`), [
        "directory:empty",
        "file:readme.txt",
      ], "listing of /docs");
      equal(entries.find((e) => e.name === "readme.txt")?.size, 7, "listed file size");
      equal((await c.stat("/docs/empty")).type, "directory", "an empty folder persists");
      sameList(await listNames(c, "/docs/empty"), [], "listing of an empty folder");
      await c.remove("/docs/readme.txt");
      equal((await c.stat("/docs")).type, "directory", "a folder persists when emptied");
      sameList(await listNames(c, "/docs"), ["empty"], "listing after removing a file");
    },
  },
  {
    name: "a folder with many entries lists completely",
    async run(c, { manyEntries }) {
      await c.mkdir("/many");
      const expected: string[] = [];
      const tasks: (() => Promise<unknown>)[] = [];
      for (let i = 0; i < manyEntries; i++) {
        const name = `entry-${String(i).padStart(5, "0")}${i % 10 === 0 ? "" : ".txt"}`;
        expected.push(name);
        tasks.push(() =>
          i % 10 === 0
            ? c.mkdir(`/many/${name}`)
            : c.write(`/many/${name}`, streamOf(new Uint8Array(i % 7)))
        );
      }
      for (let i = 0; i < tasks.length; i += 16) {
        await Promise.all(tasks.slice(i, i + 16).map((task) => task()));
      }
      const entries = await listAll(c, "/many");
      sameList(entries.map((e) => e.name), expected, "every entry, once");
      for (const entry of entries) {
        const i = Number(entry.name.slice(6, 11));
        equal(entry.type, i % 10 === 0 ? "directory" : "file", `type of ${entry.name}`);
        if (entry.type === "file") equal(entry.size, i % 7, `size of ${entry.name}`);
      }
    },
  },
  {
    name: "rmdir removes empty folders only",
    async run(c) {
      await c.mkdir("/full");
      await writeText(c, "/full/keep.txt", "keep");
      await rejectsWith(() => c.rmdir("/full"), "not_empty", "rmdir of a folder with a file");
      await expectText(c, "/full/keep.txt", "keep", "content after a refused rmdir");
      await c.mkdir("/nested");
      await c.mkdir("/nested/inner");
      await rejectsWith(() => c.rmdir("/nested"), "not_empty", "rmdir of a folder with a folder");
      await c.rmdir("/nested/inner");
      await c.rmdir("/nested");
      await rejectsWith(() => c.stat("/nested"), "not_found", "stat after rmdir");
      await rejectsWith(() => c.rmdir("/nested"), "not_found", "rmdir of a missing folder");
      await rejectsWith(() => c.rmdir("/full/keep.txt"), "not_a_directory", "rmdir of a file");
      await rejectsWith(() => c.rmdir("/"), "permission_denied", "rmdir of the root");
    },
  },
  {
    name: "remove deletes files only",
    async run(c) {
      await writeText(c, "/gone.txt", "bye");
      await c.remove("/gone.txt");
      await rejectsWith(() => c.stat("/gone.txt"), "not_found", "stat after remove");
      await rejectsWith(() => c.remove("/gone.txt"), "not_found", "remove of a missing file");
      await c.mkdir("/folder");
      await rejectsWith(() => c.remove("/folder"), "is_a_directory", "remove of a folder");
      equal((await c.stat("/folder")).type, "directory", "the folder survives");
    },
  },
  {
    name: "files rename within and across folders, replacing a target file",
    async run(c) {
      await c.mkdir("/from");
      await c.mkdir("/to");
      await writeText(c, "/from/a.txt", "alpha");
      await c.rename("/from/a.txt", "/from/b.txt");
      await expectText(c, "/from/b.txt", "alpha", "renamed in place");
      await rejectsWith(() => c.stat("/from/a.txt"), "not_found", "old name after rename");
      await c.rename("/from/b.txt", "/to/c.txt");
      await expectText(c, "/to/c.txt", "alpha", "moved across folders");
      sameList(await listNames(c, "/from"), [], "source folder after the move");
      equal((await c.stat("/from")).type, "directory", "the source folder persists");
      await writeText(c, "/to/d.txt", "delta");
      await c.rename("/to/d.txt", "/to/c.txt");
      await expectText(c, "/to/c.txt", "delta", "a rename replaces the target file");
      sameList(await listNames(c, "/to"), ["c.txt"], "target folder after replacing");
    },
  },
  {
    name: "folders rename with everything inside them",
    async run(c) {
      await c.mkdir("/src");
      await c.mkdir("/src/sub");
      await c.mkdir("/src/empty");
      await writeText(c, "/src/x.txt", "x");
      await writeText(c, "/src/sub/y.txt", "y");
      await c.mkdir("/dst");
      await c.rename("/src", "/dst/moved");
      await rejectsWith(() => c.stat("/src"), "not_found", "old folder after rename");
      sameList(await listNames(c, "/"), ["dst"], "root after moving a folder");
      sameList(await listNames(c, "/dst/moved"), ["sub", "empty", "x.txt"], "moved folder");
      await expectText(c, "/dst/moved/x.txt", "x", "a moved file");
      await expectText(c, "/dst/moved/sub/y.txt", "y", "a moved nested file");
      equal((await c.stat("/dst/moved/empty")).type, "directory", "a moved empty folder");
      await c.rename("/dst/moved", "/dst/renamed");
      sameList(await listNames(c, "/dst"), ["renamed"], "after renaming in place");
      await expectText(c, "/dst/renamed/sub/y.txt", "y", "nested file after a second rename");
    },
  },
  {
    name: "failures are typed",
    async run(c) {
      await c.mkdir("/d");
      await writeText(c, "/f.txt", "file");
      await rejectsWith(() => c.stat("/missing"), "not_found", "stat of a missing path");
      await rejectsWith(
        () => c.stat("/missing/deeper"),
        "not_found",
        "stat below a missing folder",
      );
      await rejectsWith(() => c.read("/missing"), "not_found", "read of a missing file");
      await rejectsWith(() => c.read("/d"), "is_a_directory", "read of a folder");
      await rejectsWith(() => listAll(c, "/missing"), "not_found", "list of a missing folder");
      await rejectsWith(() => listAll(c, "/f.txt"), "not_a_directory", "list of a file");
      await rejectsWith(
        () => c.write("/missing/x.txt", textStream("x")),
        "not_found",
        "write into a missing folder",
      );
      await rejectsWith(
        () => c.write("/d", textStream("x")),
        "is_a_directory",
        "write over a folder",
      );
      await rejectsWith(
        () => c.write("/f.txt/x.txt", textStream("x")),
        ["not_a_directory", "not_found"],
        "write below a file",
      );
      await rejectsWith(() => c.mkdir("/d"), "already_exists", "mkdir of an existing folder");
      await rejectsWith(() => c.mkdir("/f.txt"), "already_exists", "mkdir over a file");
      await rejectsWith(() => c.mkdir("/missing/x"), "not_found", "mkdir in a missing folder");
      await rejectsWith(() => c.rename("/missing", "/x"), "not_found", "rename of a missing path");
      await rejectsWith(
        () => c.rename("/f.txt", "/missing/f.txt"),
        "not_found",
        "rename into a missing folder",
      );
      await rejectsWith(
        () => c.rename("/f.txt", "/d"),
        "is_a_directory",
        "rename a file over a folder",
      );
      await rejectsWith(
        () => c.rename("/d", "/d/inside"),
        ["invalid_name", "permission_denied"],
        "rename of a folder into itself",
      );
      await expectText(c, "/f.txt", "file", "the file after all those failures");
      sameList(await listNames(c, "/"), ["d", "f.txt"], "nothing stray was created");
    },
  },
  {
    name: "a failed upload keeps the previous file and leaves nothing behind",
    async run(c) {
      await writeText(c, "/precious.txt", "previous version");
      // Any rejection will do: the source's own error usually comes through as is.
      check(await rejects(c.write("/precious.txt", failingStream(6 * MIB + 1))), "a failed write");
      await expectText(c, "/precious.txt", "previous version", "file after a failed upload");
      check(await rejects(c.write("/new.txt", failingStream(100))), "a failed write of a new file");
      sameList(await listNames(c, "/"), ["precious.txt"], "no partial or temporary entries");
    },
  },
  {
    name: "an aborted upload keeps the previous file",
    async run(c) {
      await writeText(c, "/kept.txt", "kept");
      const controller = new AbortController();
      const reason = new Error("injected: ABOR");
      const source = endlessStream(6 * MIB + 5, () => controller.abort(reason));
      let outcome: unknown = "resolved";
      try {
        await c.write("/kept.txt", source, { signal: controller.signal });
      } catch (error) {
        outcome = error;
      }
      check(outcome !== "resolved", "an aborted write must reject");
      await expectText(c, "/kept.txt", "kept", "file after an aborted upload");
      sameList(await listNames(c, "/"), ["kept.txt"], "no partial or temporary entries");
    },
  },
  {
    name: "concurrent writers each store whole files",
    async run(c) {
      const datas = Array.from({ length: 6 }, (_, i) => randomBytes(MIB + i * 7919));
      await Promise.all(datas.map((data, i) => c.write(`/w${i}.bin`, streamOf(data, 50_000))));
      for (const [i, data] of datas.entries()) {
        sameBytes(await readBytes(c, `/w${i}.bin`), data, `concurrent file ${i}`);
      }
    },
  },
  {
    name: "two writers to one file leave one of the two whole",
    async run(c) {
      const one = randomBytes(MIB);
      const two = randomBytes(MIB + 1);
      await Promise.all([c.write("/same.bin", streamOf(one)), c.write("/same.bin", streamOf(two))]);
      const result = await readBytes(c, "/same.bin");
      check(
        result.length === one.length || result.length === two.length,
        "two writers to one file: the result is one of them",
      );
      sameBytes(result, result.length === one.length ? one : two, "two writers to one file");
    },
  },
  {
    name: "modification times and permissions can be set where supported",
    async run(c) {
      await writeText(c, "/meta.txt", "meta");
      if (c.setModifiedTime) {
        const time = new Date("2001-02-03T04:05:06Z");
        await c.setModifiedTime("/meta.txt", time);
        equal((await c.stat("/meta.txt")).mtime?.getTime(), time.getTime(), "mtime after setting");
        await rejectsWith(
          () => c.setModifiedTime!("/missing", time),
          "not_found",
          "setModifiedTime of a missing file",
        );
      }
      if (c.chmod) {
        await c.chmod("/meta.txt", 0o640);
        const mode = (await c.stat("/meta.txt")).mode;
        if (mode !== undefined) equal(mode & 0o777, 0o640, "mode after chmod");
        await rejectsWith(
          () => c.chmod!("/missing", 0o600),
          "not_found",
          "chmod of a missing file",
        );
      }
    },
  },
];
