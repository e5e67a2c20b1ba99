/**
 * Conformance steps on metadata: modification times and permissions, where
 * the connector supports them.
 *
 * @module
 */

import { equal, rejectsWith, type Step, writeText } from "./helpers.ts";

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
];
