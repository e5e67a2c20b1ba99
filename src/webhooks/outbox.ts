/**
 * Where webhook events wait until a receiver has taken them: the
 * {@linkcode Outbox} contract and {@linkcode FolderOutbox}, one file per
 * event in a local folder, written and synced before the first attempt and
 * removed after a 2xx, so events survive a crash or a restart.
 *
 * @module
 */

import * as path from "node:path";

/** One event handed to the deliverer. */
export interface OutboxEntry {
  /** Identifies it within its outbox. */
  readonly key: string;
  /** The exact JSON body, as first written. */
  readonly body: string;
  /** Failed attempts so far (since this process took it). */
  readonly attempt: number;
}

/** A durable queue of event bodies, delivered at least once. */
export interface Outbox {
  /** Prepare (create the folder, read the events left by an earlier run). */
  open(): Promise<void>;
  /** Keep a body durably; resolves false when the outbox is full and it was dropped. */
  put(body: string): Promise<boolean>;
  /** Up to `max` events that are due and not being delivered. */
  take(max: number): Promise<OutboxEntry[]>;
  /** The receiver took it: forget it for good. */
  delivered(entry: OutboxEntry): Promise<void>;
  /** It failed: try again at `retryAt` (ms), or set it aside for good without one. */
  failed(entry: OutboxEntry, retryAt?: number): Promise<void>;
  /** When the next waiting event is due (ms), if known; events from elsewhere may come sooner. */
  nextDueAt(): number | undefined;
  /** Whether events may arrive from elsewhere (a shared queue): the deliverer polls. */
  readonly polls: boolean;
}

interface FileState {
  attempt: number;
  dueAt: number;
  leased: boolean;
}

/** Name of the folder (inside the outbox) where events that ran out of retries are kept. */
export const FAILED_FOLDER = "failed";

/**
 * An {@linkcode Outbox} in a folder: `<time>-<seq>-<random>.json` per event,
 * its content the exact body. An event is written to a temporary name,
 * synced, renamed, and the folder synced, before it is handed out; a
 * delivered event's file is removed; one that ran out of retries is moved to
 * `failed/` (move it back to send it again). One process per folder.
 */
export class FolderOutbox implements Outbox {
  readonly folder: string;
  readonly #maxEvents: number;
  readonly #files = new Map<string, FileState>();
  #sequence = 0;

  /**
   * @param folder the outbox folder (created when missing)
   * @param maxEvents most events waiting at once; `put` drops beyond
   */
  constructor(folder: string, maxEvents: number) {
    this.folder = path.resolve(folder);
    this.#maxEvents = maxEvents;
  }

  /** Events waiting (including those being delivered). */
  get size(): number {
    return this.#files.size;
  }

  /** A folder holds only what this process put there: nothing to poll. */
  get polls(): boolean {
    return false;
  }

  /** {@inheritDoc Outbox.open} */
  async open(): Promise<void> {
    await Deno.mkdir(path.join(this.folder, FAILED_FOLDER), { recursive: true });
    const names: string[] = [];
    for await (const entry of Deno.readDir(this.folder)) {
      if (!entry.isFile) continue;
      // A temporary file is an event whose write never finished: it was never handed out.
      if (entry.name.startsWith(".tmp-")) {
        await Deno.remove(path.join(this.folder, entry.name)).catch(() => {});
      } else if (entry.name.endsWith(".json")) names.push(entry.name);
    }
    for (const name of names.sort()) {
      this.#files.set(name, { attempt: 0, dueAt: 0, leased: false });
    }
  }

  /** {@inheritDoc Outbox.put} */
  async put(body: string): Promise<boolean> {
    if (this.#files.size >= this.#maxEvents) return false;
    const name = `${String(Date.now()).padStart(15, "0")}-${
      String(this.#sequence++).padStart(9, "0")
    }-${crypto.randomUUID().slice(0, 8)}.json`;
    const temp = path.join(this.folder, `.tmp-${name}`);
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      const bytes = new TextEncoder().encode(body);
      for (let written = 0; written < bytes.length;) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path.join(this.folder, name));
    await syncFolder(this.folder);
    this.#files.set(name, { attempt: 0, dueAt: 0, leased: false });
    return true;
  }

  /** {@inheritDoc Outbox.take} */
  async take(max: number): Promise<OutboxEntry[]> {
    const now = Date.now();
    const taken: OutboxEntry[] = [];
    for (const [name, state] of this.#files) {
      if (taken.length >= max) break;
      if (state.leased || state.dueAt > now) continue;
      state.leased = true;
      try {
        const body = await Deno.readTextFile(path.join(this.folder, name));
        taken.push({ key: name, body, attempt: state.attempt });
      } catch {
        this.#files.delete(name); // removed by hand: nothing to send
      }
    }
    return taken;
  }

  /** {@inheritDoc Outbox.delivered} */
  async delivered(entry: OutboxEntry): Promise<void> {
    this.#files.delete(entry.key);
    await Deno.remove(path.join(this.folder, entry.key)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** {@inheritDoc Outbox.failed} */
  async failed(entry: OutboxEntry, retryAt?: number): Promise<void> {
    const state = this.#files.get(entry.key);
    if (!state) return;
    if (retryAt === undefined) {
      this.#files.delete(entry.key);
      await Deno.rename(
        path.join(this.folder, entry.key),
        path.join(this.folder, FAILED_FOLDER, entry.key),
      ).catch(() => {});
      return;
    }
    state.attempt = entry.attempt + 1;
    state.dueAt = retryAt;
    state.leased = false;
  }

  /** {@inheritDoc Outbox.nextDueAt} */
  nextDueAt(): number | undefined {
    let next: number | undefined;
    for (const state of this.#files.values()) {
      if (!state.leased && (next === undefined || state.dueAt < next)) next = state.dueAt;
    }
    return next;
  }
}

/** Make a rename in `folder` durable (fsync of the folder). */
async function syncFolder(folder: string): Promise<void> {
  try {
    using handle = await Deno.open(folder, { read: true });
    await handle.sync();
  } catch {
    // Not every platform opens folders (Windows): the file itself was synced.
  }
}
