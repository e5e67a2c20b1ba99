/**
 * Conformance steps on metadata: modification times, permissions and kept
 * checksums, where the connector supports them.
 *
 * @module
 */

import { ChecksumTap } from "../../checksums/tap.ts";
import { encoder, equal, rejectsWith, type Step, textStream, writeText } from "./helpers.ts";

/** The steps, in suite order. */
export const METADATA_STEPS: Step[] = [
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
  {
    name: "checksums given with a whole-file write are kept, and never outlive its content",
    async run(c, settings) {
      if (!c.checksum) return;
      const checksum = c.checksum.bind(c);
      const tap = new ChecksumTap(["SHA-256", "CRC32"]);
      tap.update(encoder.encode("checked"));
      await c.write("/sum.txt", textStream("checked"), { checksums: tap });
      equal(await checksum("/sum.txt", "SHA-256"), tap.digests()["SHA-256"], "kept SHA-256");
      equal(await checksum("/sum.txt", "CRC32"), tap.digests().CRC32, "kept CRC32");
      equal(await checksum("/sum.txt", "MD5"), undefined, "an algorithm that was not given");

      await c.write("/sum.txt", textStream("rewritten"));
      equal(await checksum("/sum.txt", "SHA-256"), undefined, "after a write without checksums");

      if (settings.partialWrites) {
        await c.write("/sum.txt", textStream("checked"), { checksums: tap });
        // Checksums of the appended bytes only: they must not be kept for the file.
        await c.write("/sum.txt", textStream("more"), { position: "append", checksums: tap });
        equal(await checksum("/sum.txt", "SHA-256"), undefined, "after an append");
      }

      await c.write("/gone.txt", textStream("checked"), { checksums: tap });
      await c.remove("/gone.txt");
      await writeText(c, "/gone.txt", "checked, again");
      equal(await checksum("/gone.txt", "SHA-256"), undefined, "a new file under an old name");

      await rejectsWith(() => checksum("/missing", "SHA-256"), "not_found", "of a missing file");
      await c.mkdir("/folder");
      await rejectsWith(() => checksum("/folder", "SHA-256"), "is_a_directory", "of a folder");
    },
  },
];
