/**
 * What the conformance steps share: the step shape, assertions that name
 * what they check, and streams made on the fly (large, failing, endless).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { StorageError, type StorageErrorKind } from "../../errors.ts";
import type { FileInfo, StorageConnector } from "../../storage/types.ts";

/** One step of the suite: run on a fresh, empty connector. */
export interface Step {
  name: string;
  run(connector: StorageConnector, options: Required<SuiteSettings>): Promise<void>;
}

/** The suite's options with their defaults applied. */
export interface SuiteSettings {
  largeFileBytes: number;
  manyEntries: number;
  partialWrites: boolean;
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();
export const MIB = 1024 * 1024;

export function fail(message: string): never {
  throw new Error(message);
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

export function equal<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

export function sameList(actual: string[], expected: string[], what: string): void {
  const a = [...actual].sort();
  const e = [...expected].sort();
  if (a.length !== e.length || a.some((value, i) => value !== e[i])) {
    fail(`${what}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
  }
}

/** Expect a `StorageError` of one of `kinds`. */
export async function rejectsWith(
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
export async function rejects(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return false;
  } catch {
    return true;
  }
}

/** A stream of `bytes` in chunks of `chunkSize`, each a fresh copy. */
export function streamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
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

export function textStream(text: string): ReadableStream<Uint8Array> {
  return streamOf(encoder.encode(text));
}

export async function readBytes(
  connector: StorageConnector,
  path: string,
  offset?: number,
): Promise<Uint8Array> {
  const stream = await connector.read(path, offset === undefined ? undefined : { offset });
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function readText(connector: StorageConnector, path: string, offset?: number) {
  return decoder.decode(await readBytes(connector, path, offset));
}

export async function writeText(connector: StorageConnector, path: string, text: string) {
  const written = await connector.write(path, textStream(text));
  equal(written, encoder.encode(text).length, `bytes reported for ${path}`);
}

export async function listAll(connector: StorageConnector, path: string): Promise<FileInfo[]> {
  const entries: FileInfo[] = [];
  for await (const entry of connector.list(path)) entries.push(entry);
  return entries;
}

export async function listNames(connector: StorageConnector, path: string): Promise<string[]> {
  return (await listAll(connector, path)).map((entry) => entry.name);
}

export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, length)));
  }
  return bytes;
}

export function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) fail(`${what}: first difference at byte ${i}`);
  }
}

/**
 * A large pseudo-random stream made on the fly (never held whole), with odd
 * chunk sizes, and its SHA-256 once it has been read to the end.
 */
export function largeStream(length: number, seed: number): {
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

export async function digestOf(
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
export function failingStream(bytes: number): ReadableStream<Uint8Array> {
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
export function endlessStream(stopAt: number, onStalled: () => void): ReadableStream<Uint8Array> {
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

export async function expectText(
  connector: StorageConnector,
  path: string,
  text: string,
  what: string,
) {
  equal(await readText(connector, path), text, what);
}

export function recent(time: Date | undefined, what: string): void {
  if (time === undefined) return; // optional in FileInfo
  check(time instanceof Date && !isNaN(time.getTime()), `${what}: mtime must be a valid Date`);
  const skew = Math.abs(Date.now() - time.getTime());
  check(skew < 10 * 60 * 1000, `${what}: mtime ${time.toISOString()} is not about now`);
}
