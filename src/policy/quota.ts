/**
 * Quotas: `quotaBytes` and `quotaFiles` over a user's home, `maxUploadBytes`
 * per file. {@linkcode QuotaAccount} keeps one user's usage in a
 * {@linkcode SharedState} (computed at first need by walking the home, then
 * kept current), and {@linkcode QuotaStorage} wraps the user's storage so it
 * sees every write, removal and rename:
 *
 * - an upload reserves bytes atomically as they arrive, in chunks, and settles
 *   at the end, so racing uploads (other sessions, other nodes with
 *   `cluster`) can't both take the last bytes; the size need not be known in
 *   advance;
 * - an upload that would go over a limit is stopped (552):
 *   its source errors, so the connector keeps the previous file (`atomic`
 *   mode); with `atomic_resume` or `direct` the bytes that fitted stay, and
 *   are counted;
 * - overwrites count only the growth over the previous file, REST and APPE
 *   only what they add; removing a file, or renaming over one, frees it.
 *
 * Changes made behind exftp's back (another program writing into the home)
 * are not seen until the usage is computed again (a restart of a node
 * without `cluster`).
 *
 * @module
 */

import type { FtpUser } from "../auth/types.ts";
import type { SharedState } from "../cluster/state.ts";
import { FtpError, StorageError } from "../errors.ts";
import { Reply } from "../replies.ts";
import { joinPath } from "../paths.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "../storage/types.ts";

/** Bytes reserved at once while an upload streams (fewer near the limit). */
const RESERVE_CHUNK_BYTES = 1 << 20;

/** Each read's size when the connector reads without a buffer of its own. */
const READ_CHUNK_BYTES = 256 * 1024;

/** One user's limits, from the profile. */
export interface QuotaLimits {
  /** Most bytes over the home. */
  readonly quotaBytes?: number;
  /** Most files over the home. */
  readonly quotaFiles?: number;
  /** Largest file an upload may leave. */
  readonly maxUploadBytes?: number;
}

/** Where a user stands. */
export interface QuotaUsage {
  /** Bytes stored (and reserved by running uploads). */
  readonly bytes: number;
  /** Files stored. */
  readonly files: number;
}

/** The limits of `user`, or undefined when none applies. */
export function quotaLimitsOf(user: FtpUser): QuotaLimits | undefined {
  const limits: QuotaLimits = {
    quotaBytes: positive(user.quotaBytes),
    quotaFiles: positive(user.quotaFiles),
    maxUploadBytes: positive(user.maxUploadBytes),
  };
  return Object.values(limits).some((v) => v !== undefined) ? limits : undefined;
}

function positive(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Logs what can't be helped (a shared state that rejects). */
export type QuotaLog = (message: string, fields: Record<string, unknown>) => void;

/**
 * One user's usage counters in the shared state, and the limits their
 * sessions enforce. Every session of the user on a node shares one account;
 * every node shares the counters through the {@linkcode SharedState}.
 */
export class QuotaAccount {
  /** The user's limits (the newest session's profile). */
  limits: QuotaLimits;
  readonly #state: SharedState;
  readonly #bytesKey: string;
  readonly #filesKey: string;
  readonly #walkRoot: () => StorageConnector;
  readonly #log: QuotaLog;
  #counted?: Promise<void>;
  /** Where the state lived when usage was counted (see {@linkcode ensureCounted}). */
  #countedIn?: SharedState["mode"];

  /**
   * The account of `username`; `walkRoot` gives the home's connector when the
   * usage must be computed.
   */
  constructor(
    username: string,
    limits: QuotaLimits,
    state: SharedState,
    walkRoot: () => StorageConnector,
    log: QuotaLog,
  ) {
    this.limits = limits;
    this.#state = state;
    this.#bytesKey = `quota:${username}:bytes`;
    this.#filesKey = `quota:${username}:files`;
    this.#walkRoot = walkRoot;
    this.#log = log;
  }

  /**
   * Compute the usage from storage unless the shared state already has it.
   * When the state moved since (Redis became unreachable and a fresh local
   * state took over, or Redis came back with counters that missed what
   * happened meanwhile), the home is walked again: a quota never starts from
   * zero in an outage. Uploads running across the switch may leave the count
   * off by what they reserved before it, until the next switch or restart.
   */
  ensureCounted(): Promise<void> {
    const mode = this.#state.mode;
    const moved = this.#countedIn !== undefined && this.#countedIn !== mode;
    if (moved) this.#counted = undefined;
    this.#counted ??= this.#count(moved).catch((error) => {
      this.#counted = undefined;
      throw error;
    });
    this.#countedIn = mode;
    return this.#counted;
  }

  async #count(recount: boolean): Promise<void> {
    if (!recount) await this.#countUnlessKept();
    else await this.#walkAndSave();
  }

  async #countUnlessKept(): Promise<void> {
    const [bytes, files] = await Promise.all([
      this.#state.readCounter(this.#bytesKey),
      this.#state.readCounter(this.#filesKey),
    ]).catch((error) => {
      this.#log("Quota usage unreadable from shared state; counting the home", {
        error: String(error),
      });
      return [undefined, undefined];
    });
    if (bytes !== undefined && files !== undefined) return;
    await this.#walkAndSave();
  }

  async #walkAndSave(): Promise<void> {
    const usage = await walkUsage(this.#walkRoot());
    await Promise.all([
      this.#state.writeCounter(this.#bytesKey, usage.bytes),
      this.#state.writeCounter(this.#filesKey, usage.files),
    ]).catch((error) => this.#log("Quota usage not saved", { error: String(error) }));
  }

  /** Where the user stands now. */
  async usage(): Promise<QuotaUsage> {
    await this.ensureCounted();
    const [bytes, files] = await Promise.all([
      this.#state.readCounter(this.#bytesKey),
      this.#state.readCounter(this.#filesKey),
    ]);
    return { bytes: Math.max(0, bytes ?? 0), files: Math.max(0, files ?? 0) };
  }

  /** Bytes the user may still store (undefined without a byte quota). */
  async available(): Promise<number | undefined> {
    const { quotaBytes } = this.limits;
    if (quotaBytes === undefined) return undefined;
    return Math.max(0, quotaBytes - (await this.usage()).bytes);
  }

  /** Add `delta` bytes unless that goes over the byte quota (negative always applies). */
  reserveBytes(delta: number, limited = true): Promise<boolean> {
    return this.#reserve(this.#bytesKey, delta, limited ? this.limits.quotaBytes : undefined);
  }

  /** Add `delta` files unless that goes over the file quota (negative always applies). */
  reserveFiles(delta: number): Promise<boolean> {
    return this.#reserve(this.#filesKey, delta, this.limits.quotaFiles);
  }

  async #reserve(key: string, delta: number, limit: number | undefined): Promise<boolean> {
    if (delta === 0) return true;
    try {
      const before = this.#state.mode;
      if (this.#countedIn !== undefined && this.#countedIn !== before) await this.ensureCounted();
      let result = await this.#state.reserve(key, delta, limit);
      if (this.#state.mode !== before) {
        // The state moved during this very call (the store failed and a fresh
        // local state answered): count the home into it, then reserve again.
        await this.ensureCounted();
        result = await this.#state.reserve(key, delta, limit);
      }
      return result.ok;
    } catch (error) {
      // The shared store is out: serve (the quota is not enforced meanwhile) rather than refuse.
      this.#log("Quota reservation failed; allowed", { key, delta, error: String(error) });
      return true;
    }
  }
}

/** The bytes and files below `/` of `storage` (folders don't count). */
export async function walkUsage(storage: StorageConnector): Promise<QuotaUsage> {
  let bytes = 0;
  let files = 0;
  const folders = ["/"];
  while (folders.length > 0) {
    const folder = folders.pop()!;
    for await (const entry of storage.list(folder)) {
      if (entry.type === "directory") folders.push(joinPath(folder, entry.name));
      else {
        bytes += entry.size;
        files++;
      }
    }
  }
  return { bytes, files };
}

function isFile(info: FileInfo | undefined): number {
  return info?.type === "file" ? 1 : 0;
}

/**
 * A limit was reached: 552 before a transfer and after its 150 alike (a
 * `storage_full` storage error would be 452 before one, as for a full disk).
 */
function quotaExceeded(message: string): FtpError {
  return new FtpError(Reply.ExceededStorageAllocation, message);
}

async function statOrUndefined(
  storage: StorageConnector,
  path: string,
): Promise<FileInfo | undefined> {
  try {
    return await storage.stat(path);
  } catch (error) {
    if (error instanceof StorageError && error.kind === "not_found") return undefined;
    throw error;
  }
}

/**
 * A connector that keeps its user's {@linkcode QuotaAccount} current and
 * stops uploads that would go over a limit. Put it right over the home (mounts
 * of other storage are not the home's quota).
 */
export class QuotaStorage implements StorageConnector {
  readonly #inner: StorageConnector;
  readonly #account: QuotaAccount;
  readonly #onClose?: () => void;
  /** Set the modification time (present when the inner connector has it). */
  readonly setModifiedTime?: (path: string, time: Date) => Promise<void>;
  /** Change permission bits (present when the inner connector has it). */
  readonly chmod?: (path: string, mode: number) => Promise<void>;
  /** The kept checksum (present when the inner connector has it). */
  readonly checksum?: StorageConnector["checksum"];

  /** Account the changes to `inner` in `account`; `onClose` runs when the session ends. */
  constructor(inner: StorageConnector, account: QuotaAccount, onClose?: () => void) {
    this.#inner = inner;
    this.#account = account;
    this.#onClose = onClose;
    if (inner.setModifiedTime) {
      this.setModifiedTime = (path, time) => inner.setModifiedTime!(path, time);
    }
    if (inner.chmod) this.chmod = (path, mode) => inner.chmod!(path, mode);
    if (inner.checksum) this.checksum = (path, algorithm) => inner.checksum!(path, algorithm);
  }

  /** The user's account. */
  get account(): QuotaAccount {
    return this.#account;
  }

  stat(path: string): Promise<FileInfo> {
    return this.#inner.stat(path);
  }

  list(path: string): AsyncIterable<FileInfo> {
    return this.#inner.list(path);
  }

  read(path: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
    return this.#inner.read(path, options);
  }

  async write(
    path: string,
    source: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<number> {
    const account = this.#account;
    let prior: FileInfo | undefined;
    try {
      await account.ensureCounted();
      prior = await statOrUndefined(this.#inner, path);
    } catch (error) {
      await source.cancel(error).catch(() => {});
      throw error;
    }
    const priorSize = prior?.type === "file" ? prior.size : 0;
    const position = options.position ?? "truncate";
    const base = position === "truncate" ? 0 : position === "append" ? priorSize : position;
    let filesReserved = 0;
    if (!prior) {
      if (!(await account.reserveFiles(1))) {
        await source.cancel().catch(() => {});
        throw quotaExceeded(`File quota exceeded (${account.limits.quotaFiles} files)`);
      }
      filesReserved = 1;
    }
    const upload = new CountedUpload(source, account, base, priorSize);
    let written: number;
    try {
      written = await this.#inner.write(path, upload.stream, options);
    } catch (error) {
      // What stayed (nothing in atomic mode; what fitted with atomic_resume or direct) is counted.
      const after = await statOrUndefined(this.#inner, path).catch(() => prior);
      const afterSize = after?.type === "file" ? after.size : 0;
      await account.reserveBytes(afterSize - priorSize - upload.reserved, false);
      await account.reserveFiles(isFile(after) - isFile(prior) - filesReserved);
      throw upload.failure ?? error;
    }
    await account.reserveBytes(base + upload.seen - priorSize - upload.reserved, false);
    return written;
  }

  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(path);
  }

  rmdir(path: string): Promise<void> {
    return this.#inner.rmdir(path);
  }

  async remove(path: string): Promise<void> {
    await this.#account.ensureCounted();
    const info = await this.#inner.stat(path);
    await this.#inner.remove(path);
    if (info.type === "file") {
      await this.#account.reserveBytes(-info.size);
      await this.#account.reserveFiles(-1);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#account.ensureCounted();
    const replaced = from === to ? undefined : await statOrUndefined(this.#inner, to);
    await this.#inner.rename(from, to);
    if (replaced?.type === "file") {
      await this.#account.reserveBytes(-replaced.size);
      await this.#account.reserveFiles(-1);
    }
  }

  async close(): Promise<void> {
    this.#onClose?.();
    await this.#inner.close?.();
  }
}

/**
 * An upload's bytes on their way to the connector: counted, reserved in the
 * account ahead of need, and stopped (the stream errors) at a limit. Over a
 * byte stream (the data connection) reads go straight into the connector's
 * buffer; a default reader made a fresh 256 KiB chunk per read (bench/README.md,
 * "Uploads: where the CPU went").
 */
class CountedUpload {
  /** What the connector reads. */
  readonly stream: ReadableStream<Uint8Array>;
  /** Bytes that came through. */
  seen = 0;
  /** Bytes reserved in the account so far. */
  reserved = 0;
  /** The limit that stopped it, if any. */
  failure?: FtpError;
  readonly #account: QuotaAccount;
  readonly #base: number;
  readonly #priorSize: number;
  readonly #step: number;

  constructor(
    source: ReadableStream<Uint8Array>,
    account: QuotaAccount,
    base: number,
    priorSize: number,
  ) {
    this.#account = account;
    this.#base = base;
    this.#priorSize = priorSize;
    const { quotaBytes } = account.limits;
    // Reserving ahead saves a round trip to the shared state per read; near a
    // small quota it reserves less, so racing uploads don't block each other
    // with bytes that none of them has received yet.
    this.#step = quotaBytes === undefined
      ? RESERVE_CHUNK_BYTES
      : Math.min(RESERVE_CHUNK_BYTES, Math.floor(quotaBytes / 64));
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = source.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream (TYPE A, a throttled upload): chunk by chunk.
    }
    this.stream = byob ? this.#byteStream(byob) : this.#chunkStream(source.getReader());
  }

  #byteStream(reader: ReadableStreamBYOBReader): ReadableStream<Uint8Array> {
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: READ_CHUNK_BYTES,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view as Uint8Array;
        // The read fills the reader's own buffer (it moves through both streams).
        const result = await reader.read(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        );
        if (result.done) {
          controller.close();
          request.respondWithNewView(result.value ?? new Uint8Array(0));
          return;
        }
        if (await this.#admit(result.value, controller, reader)) {
          request.respondWithNewView(result.value);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  #chunkStream(reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const result = await reader.read();
        if (result.done) {
          controller.close();
          return;
        }
        if (await this.#admit(result.value, controller, reader)) {
          controller.enqueue(result.value);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /** Count `chunk` and reserve for it; false when a limit stopped the upload. */
  async #admit(
    chunk: Uint8Array,
    controller: { error(reason: unknown): void },
    reader: { cancel(reason: unknown): Promise<void> },
  ): Promise<boolean> {
    const account = this.#account;
    const { maxUploadBytes, quotaBytes } = account.limits;
    this.seen += chunk.length;
    const size = this.#base + this.seen;
    if (maxUploadBytes !== undefined && size > maxUploadBytes) {
      this.#stop(controller, reader, `Upload exceeds the size limit (${maxUploadBytes} bytes)`);
      return false;
    }
    // Overwrites and REST count only what grows beyond the previous file.
    const needed = size - this.#priorSize - this.reserved;
    if (needed > 0) {
      const ahead = Math.max(needed, this.#step);
      if (await account.reserveBytes(ahead)) this.reserved += ahead;
      else if (!(await this.#retry(size - this.#priorSize))) {
        this.#stop(controller, reader, `Quota exceeded (${quotaBytes} bytes)`);
        return false;
      }
    }
    return true;
  }

  /**
   * A reservation was refused. Racing uploads may each hold part of what is
   * left while one of them is about to give up and free its part; asking for
   * the whole growth again after giving ours back lets the ones that fit go on
   * (without it, two of three uploads that would fit in pairs could fail).
   */
  async #retry(growth: number): Promise<boolean> {
    const held = this.reserved;
    this.reserved = 0;
    await this.#account.reserveBytes(-held);
    if (!(await this.#account.reserveBytes(growth))) return false;
    this.reserved = growth;
    return true;
  }

  #stop(
    controller: { error(reason: unknown): void },
    reader: { cancel(reason: unknown): Promise<void> },
    message: string,
  ): void {
    // Give the reservation back at once, so racing uploads that fit can go
    // on; whatever the connector keeps is counted again when it is done.
    void this.#account.reserveBytes(-this.reserved);
    this.reserved = 0;
    this.failure = quotaExceeded(message);
    reader.cancel(this.failure).catch(() => {});
    controller.error(this.failure);
  }
}
