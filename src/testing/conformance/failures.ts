/**
 * Conformance steps on failures: errors are typed, and a failed or aborted
 * upload keeps the previous file and leaves nothing behind.
 *
 * @module
 */

import {
  check,
  endlessStream,
  expectText,
  failingStream,
  listAll,
  listNames,
  MIB,
  rejects,
  rejectsWith,
  sameList,
  type Step,
  textStream,
  writeText,
} from "./helpers.ts";

/** The steps, in suite order. */
export const FAILURE_STEPS: Step[] = [
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
];
