/**
 * A failure-injecting wrapper around any storage connector: streams that
 * fail after N bytes, hang, or crawl, and operations that fail with a chosen
 * error — for testing ABOR, broken transfers and error replies.
 *
 * @module
 */

import { StorageError, type StorageErrorKind } from "../errors.ts";
import type { FileInfo, ReadOptions, StorageConnector, WriteOptions } from "../storage/types.ts";

/** Operations {@linkcode FaultOptions.failOperations} can make fail. */
export type FaultableOperation =
  | "stat"
  | "list"
  | "read"
  | "write"
  | "mkdir"
  | "rmdir"
  | "remove"
  | "rename";

/** What {@linkcode faultyStorage} breaks. Everything is off by default. */
export interface FaultOptions {
  /** Downloads fail (an `io` StorageError) after this many bytes. */
  failReadAfterBytes?: number;
  /** Uploads fail (an `io` StorageError) after this many bytes; the inner connector sees its source fail. */
  failWriteAfterBytes?: number;
  /**
   * Downloads stop delivering and never end until cancelled: `true` before
   * the first byte, a number after that many bytes.
   */
  hangRead?: boolean | number;
  /**
   * Uploads stop consuming and never finish until their signal aborts: `true`
   * before the first byte, a number after that many bytes.
   */
  hangWrite?: boolean | number;
  /** Throttle both directions to about this many bytes per second. */
  slowBytesPerSecond?: number;
  /** Make operations fail at once with a StorageError of the given kind. */
  failOperations?: Partial<Record<FaultableOperation, StorageErrorKind>>;
}

/**
 * Wrap `inner` so that it fails the way `options` asks; everything else is
 * passed through (including the optional methods `inner` has).
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@exftp/server";
 * import { faultyStorage } from "@exftp/server/testing";
 *
 * // Downloads break after 1 MiB; MKD answers "storage full".
 * const storage = faultyStorage(new MemoryStorage(), {
 *   failReadAfterBytes: 1024 * 1024,
 *   failOperations: { mkdir: "storage_full" },
 * });
 * ```
 */
export function faultyStorage(inner: StorageConnector, options: FaultOptions): StorageConnector {
  for (const key of ["failReadAfterBytes", "failWriteAfterBytes", "slowBytesPerSecond"] as const) {
    const value = options[key];
    if (value !== undefined && !(value >= 0)) {
      throw new RangeError(`Option "${key}" must be a number of bytes, got ${value}`);
    }
  }
  const injected = (operation: FaultableOperation) => {
    const kind = options.failOperations?.[operation];
    return kind ? new StorageError(kind, `Injected ${kind} failure of ${operation}`) : undefined;
  };
  const connector: StorageConnector = {
    stat(path: string): Promise<FileInfo> {
      const error = injected("stat");
      return error ? Promise.reject(error) : inner.stat(path);
    },
    list(path: string): AsyncIterable<FileInfo> {
      const error = injected("list");
      if (!error) return inner.list(path);
      return {
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
      };
    },
    async read(path: string, readOptions?: ReadOptions): Promise<ReadableStream<Uint8Array>> {
      const error = injected("read");
      if (error) throw error;
      const source = await inner.read(path, readOptions);
      return faultyStream(source, {
        failAfter: options.failReadAfterBytes,
        hangAfter: hangPoint(options.hangRead),
        bytesPerSecond: options.slowBytesPerSecond,
        failure: () =>
          new StorageError("io", `Injected read failure after ${options.failReadAfterBytes} bytes`),
        signal: readOptions?.signal,
      });
    },
    async write(
      path: string,
      source: ReadableStream<Uint8Array>,
      writeOptions?: WriteOptions,
    ): Promise<number> {
      const error = injected("write");
      if (error) {
        await source.cancel(error).catch(() => {});
        throw error;
      }
      let fired: StorageError | undefined;
      const wrapped = faultyStream(source, {
        failAfter: options.failWriteAfterBytes,
        hangAfter: hangPoint(options.hangWrite),
        bytesPerSecond: options.slowBytesPerSecond,
        failure: () => {
          fired = new StorageError(
            "io",
            `Injected write failure after ${options.failWriteAfterBytes} bytes`,
          );
          return fired;
        },
        signal: writeOptions?.signal,
      });
      try {
        return await inner.write(path, wrapped, writeOptions);
      } catch (error) {
        throw fired ?? error;
      }
    },
    mkdir(path: string): Promise<void> {
      const error = injected("mkdir");
      return error ? Promise.reject(error) : inner.mkdir(path);
    },
    rmdir(path: string): Promise<void> {
      const error = injected("rmdir");
      return error ? Promise.reject(error) : inner.rmdir(path);
    },
    remove(path: string): Promise<void> {
      const error = injected("remove");
      return error ? Promise.reject(error) : inner.remove(path);
    },
    rename(from: string, to: string): Promise<void> {
      const error = injected("rename");
      return error ? Promise.reject(error) : inner.rename(from, to);
    },
  };
  if (inner.setModifiedTime) {
    connector.setModifiedTime = (path, time) => inner.setModifiedTime!(path, time);
  }
  if (inner.chmod) connector.chmod = (path, mode) => inner.chmod!(path, mode);
  if (inner.checksum) {
    connector.checksum = (path, algorithm) => inner.checksum!(path, algorithm);
  }
  if (inner.close) connector.close = () => inner.close!();
  return connector;
}

function hangPoint(option: boolean | number | undefined): number | undefined {
  if (option === undefined || option === false) return undefined;
  return option === true ? 0 : option;
}

interface StreamFaults {
  failAfter?: number;
  hangAfter?: number;
  bytesPerSecond?: number;
  failure: () => StorageError;
  signal?: AbortSignal;
}

/** Pass `source` through, failing, hanging or throttling as asked. */
function faultyStream(
  source: ReadableStream<Uint8Array>,
  faults: StreamFaults,
): ReadableStream<Uint8Array> {
  if (
    faults.failAfter === undefined && faults.hangAfter === undefined &&
    faults.bytesPerSecond === undefined
  ) {
    return source;
  }
  const reader = source.getReader();
  const started = Date.now();
  let passed = 0;
  let leftover: Uint8Array = new Uint8Array();
  let wake: (() => void) | undefined;
  const stopped = new AbortController();
  const stop = (reason: unknown) => {
    stopped.abort(reason);
    wake?.();
  };
  faults.signal?.addEventListener("abort", () => stop(faults.signal?.reason), { once: true });
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stopped.signal.aborted) throw stopped.signal.reason;
      if (faults.hangAfter !== undefined && passed >= faults.hangAfter) {
        await new Promise<void>((resolve) => (wake = resolve)); // until cancelled or aborted
        throw stopped.signal.reason ?? new StorageError("io", "Injected hang ended");
      }
      if (faults.failAfter !== undefined && passed >= faults.failAfter) {
        reader.cancel().catch(() => {});
        throw faults.failure();
      }
      if (leftover.length === 0) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        leftover = value;
      }
      let size = leftover.length;
      const limits = [faults.failAfter, faults.hangAfter].filter((n) => n !== undefined);
      size = Math.min(size, ...limits.map((limit) => limit - passed)); // stop exactly at a limit
      if (faults.bytesPerSecond !== undefined && faults.bytesPerSecond > 0) {
        // Small slices, so that the rate holds over short times too.
        size = Math.min(size, Math.max(1, Math.floor(faults.bytesPerSecond / 20)));
        const due = started + ((passed + size) / faults.bytesPerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        if (stopped.signal.aborted) throw stopped.signal.reason;
      }
      const chunk = leftover.subarray(0, size);
      leftover = leftover.subarray(size);
      passed += chunk.length;
      if (chunk.length > 0) controller.enqueue(chunk);
    },
    cancel(reason) {
      stop(reason);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
