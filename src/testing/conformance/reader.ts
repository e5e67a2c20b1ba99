/**
 * Conformance steps for the optional `openReader` (RETR's fast path): the
 * same bytes as `read`, from any offset, into buffers of any size, and the
 * same errors. A connector without it passes them as they are.
 *
 * @module
 */

import type { StorageConnector, StorageReader } from "../../storage/types.ts";
import {
  check,
  equal,
  MIB,
  randomBytes,
  readBytes,
  rejectsWith,
  sameBytes,
  type Step,
  streamOf,
  writeText,
} from "./helpers.ts";

/** Everything `reader` yields, read into buffers of `bufferBytes`, each reused. */
async function readAllInto(reader: StorageReader, bufferBytes: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(bufferBytes);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const n = await reader.read(buffer);
    if (n === null) break;
    check(n >= 0 && n <= bufferBytes, `read returned ${n} for a buffer of ${bufferBytes}`);
    parts.push(buffer.slice(0, n));
    total += n;
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

async function readWith(
  c: StorageConnector,
  path: string,
  bufferBytes: number,
  offset?: number,
): Promise<Uint8Array> {
  const reader = await c.openReader!(path, offset === undefined ? undefined : { offset });
  try {
    return await readAllInto(reader, bufferBytes);
  } finally {
    reader.close();
  }
}

/** The steps, in suite order. */
export const READER_STEPS: Step[] = [
  {
    name: "openReader, when offered, reads what read reads, from any offset, into any buffer",
    async run(c) {
      if (!c.openReader) return;
      const data = randomBytes(MIB + 4099);
      equal(await c.write("/r.bin", streamOf(data, 65536)), data.length, "bytes written");
      for (const bufferBytes of [1, 4096, 65536, 256 * 1024, 2 * MIB]) {
        if (bufferBytes === 1) {
          sameBytes(
            await readWith(c, "/r.bin", 1, data.length - 5),
            data.slice(-5),
            "1-byte reads",
          );
          continue;
        }
        sameBytes(await readWith(c, "/r.bin", bufferBytes), data, `buffer of ${bufferBytes}`);
      }
      sameBytes(await readWith(c, "/r.bin", 65536, 70_000), data.slice(70_000), "from 70000");
      sameBytes(
        await readWith(c, "/r.bin", 65536, 70_000),
        await readBytes(c, "/r.bin", 70_000),
        "the same bytes as read",
      );
      equal((await readWith(c, "/r.bin", 4096, data.length)).length, 0, "from the end");
      await writeText(c, "/empty.txt", "");
      equal((await readWith(c, "/empty.txt", 4096)).length, 0, "an empty file");
    },
  },
  {
    name: "openReader, when offered, fails like read and may be closed twice",
    async run(c) {
      if (!c.openReader) return;
      await c.mkdir("/d");
      await rejectsWith(() => c.openReader!("/missing"), "not_found", "a missing file");
      await rejectsWith(() => c.openReader!("/d"), "is_a_directory", "a folder");
      await writeText(c, "/f.txt", "text");
      const reader = await c.openReader("/f.txt");
      reader.close();
      reader.close();
    },
  },
];
