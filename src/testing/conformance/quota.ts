/**
 * Conformance steps for what per-user quotas need from a connector. Quotas
 * are enforced above the connector (a wrapper counts the bytes of every
 * upload and stops it at the limit by erroring its source), so a connector
 * needs nothing quota-specific; it must only report sizes exactly, because
 * a user's usage is computed by walking the home with `list` and kept
 * current with `stat` before and after each change:
 *
 * - `list` names every stored file with its exact size, in every folder, and
 *   never an upload still in progress (the walk would count it twice);
 * - `stat` gives the exact size after a write, an overwrite (smaller or
 *   larger), an append and a write at an offset;
 * - a write whose source errors keeps the previous file (covered by the
 *   failure steps), so a stopped upload leaves nothing to count.
 *
 * @module
 */

import { walkUsage } from "../../policy/quota.ts";
import { equal, randomBytes, type Step, streamOf } from "./helpers.ts";

/** The steps, in suite order. */
export const QUOTA_STEPS: Step[] = [
  {
    name: "sizes are exact for quota accounting: list and stat agree with what was written",
    async run(c) {
      await c.mkdir("/q");
      await c.mkdir("/q/deep");
      const files: Record<string, number> = {
        "/empty.bin": 0,
        "/q/one.bin": 1,
        "/q/deep/some.bin": 70_000,
        "/q/deep/more.bin": 1000,
      };
      for (const [path, size] of Object.entries(files)) {
        equal(await c.write(path, streamOf(randomBytes(size))), size, `bytes written to ${path}`);
      }
      // A smaller overwrite, an append and a write at an offset change the sizes.
      await c.write("/q/deep/some.bin", streamOf(randomBytes(500)));
      files["/q/deep/some.bin"] = 500;
      await c.write("/q/one.bin", streamOf(randomBytes(99)), { position: "append" });
      files["/q/one.bin"] = 100;
      await c.write("/q/deep/more.bin", streamOf(randomBytes(10)), { position: 600 });
      files["/q/deep/more.bin"] = 610;
      for (const [path, size] of Object.entries(files)) {
        equal((await c.stat(path)).size, size, `stat size of ${path}`);
      }
      const total = Object.values(files).reduce((sum, size) => sum + size, 0);
      equal(
        JSON.stringify(await walkUsage(c)),
        JSON.stringify({ bytes: total, files: 4 }),
        "bytes and files found by walking every folder with list",
      );
    },
  },
  {
    name: "an overwrite in progress is not listed beside the file it replaces",
    async run(c) {
      await c.write("/growing.bin", streamOf(randomBytes(4096)));
      let release!: () => void;
      const held = new Promise<void>((resolve) => release = resolve);
      let taken!: () => void;
      const firstChunkTaken = new Promise<void>((resolve) => taken = resolve);
      let sent = false;
      const source = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent) {
            taken();
            await held;
            controller.close();
            return;
          }
          sent = true;
          controller.enqueue(randomBytes(4096));
        },
      }, { highWaterMark: 0 });
      const writing = c.write("/growing.bin", source);
      await firstChunkTaken;
      const during = await walkUsage(c).finally(release);
      await writing;
      equal(during.files, 1, "files listed while the overwrite runs");
      equal(during.bytes <= 4096, true, `bytes listed while it runs (${during.bytes})`);
      equal(
        JSON.stringify(await walkUsage(c)),
        JSON.stringify({ bytes: 4096, files: 1 }),
        "after it",
      );
    },
  },
];
