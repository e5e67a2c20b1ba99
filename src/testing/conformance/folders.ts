/**
 * Conformance steps on folders: making, listing (also many entries),
 * removing folders and files, and renaming files and folders.
 *
 * @module
 */

import {
  equal,
  expectText,
  listAll,
  listNames,
  rejectsWith,
  sameList,
  type Step,
  streamOf,
  writeText,
} from "./helpers.ts";

/** The steps, in suite order. */
export const FOLDER_STEPS: Step[] = [
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
];
