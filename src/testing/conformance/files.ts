/**
 * Conformance steps on files: storing and reading back exactly, large
 * streams, offsets, appends, writes at an offset, exclusive writes, and names
 * (exact matches, unicode, spaces).
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import {
  check,
  digestOf,
  equal,
  expectText,
  largeStream,
  listAll,
  listNames,
  MIB,
  randomBytes,
  readBytes,
  recent,
  rejectsWith,
  sameBytes,
  sameList,
  type Step,
  streamOf,
  textStream,
  writeText,
} from "./helpers.ts";

/** The steps, in suite order. */
export const FILE_STEPS: Step[] = [
  {
    name: "the root is an empty folder",
    async run(c) {
      const root = await c.stat("/");
      equal(root.type, "directory", "stat / type");
      sameList(await listNames(c, "/"), [], "listing of an empty root");
    },
  },
  {
    name: "a small file is stored and read back exactly",
    async run(c) {
      const data = randomBytes(10_001);
      const written = await c.write("/small.bin", streamOf(data, 4096));
      equal(written, data.length, "bytes reported by write");
      const info = await c.stat("/small.bin");
      equal(info.type, "file", "type");
      equal(info.name, "small.bin", "name");
      equal(info.size, data.length, "size");
      recent(info.mtime, "small.bin");
      sameBytes(await readBytes(c, "/small.bin"), data, "read back");
    },
  },
  {
    name: "an empty file is a file of size 0",
    async run(c) {
      equal(await c.write("/empty.txt", streamOf(new Uint8Array())), 0, "bytes reported");
      const info = await c.stat("/empty.txt");
      equal(info.type, "file", "type");
      equal(info.size, 0, "size");
      equal((await readBytes(c, "/empty.txt")).length, 0, "bytes read");
      const listed = (await listAll(c, "/")).find((entry) => entry.name === "empty.txt");
      check(listed, "the empty file is listed");
      equal(listed.size, 0, "listed size");
      await writeText(c, "/was-full.txt", "something");
      await c.write("/was-full.txt", streamOf(new Uint8Array()));
      equal((await c.stat("/was-full.txt")).size, 0, "a file overwritten with nothing");
    },
  },
  {
    name: "names match exactly, never as prefixes",
    async run(c) {
      await writeText(c, "/dir.txt", "not a folder");
      await rejectsWith(() => c.stat("/dir"), "not_found", "stat /dir beside /dir.txt");
      await rejectsWith(() => c.read("/dir"), "not_found", "read /dir beside /dir.txt");
      await rejectsWith(() => c.stat("/dir.tx"), "not_found", "stat a prefix of a name");
      await c.mkdir("/a");
      await writeText(c, "/ab.txt", "x");
      await writeText(c, "/a.txt", "y");
      equal((await c.stat("/a")).type, "directory", "/a beside /ab.txt and /a.txt");
      equal((await c.stat("/a.txt")).type, "file", "/a.txt beside /a");
      sameList(await listNames(c, "/a"), [], "the folder /a holds nothing of /ab.txt");
      await rejectsWith(() => c.stat("/ab"), "not_found", "stat /ab beside /ab.txt");
      await rejectsWith(() => c.list("/ab")[Symbol.asyncIterator]().next(), [
        "not_found",
      ], "list /ab beside /ab.txt");
      await c.rmdir("/a"); // empty, whatever /ab.txt and /a.txt say
      await rejectsWith(() => c.stat("/a"), "not_found", "stat /a after rmdir");
      sameList(await listNames(c, "/"), ["dir.txt", "ab.txt", "a.txt"], "root after all that");
    },
  },
  {
    name: "a large file streams through intact",
    async run(c, { largeFileBytes }) {
      const { stream, digest } = largeStream(largeFileBytes, 0x2545f491);
      const written = await c.write("/large.bin", stream);
      equal(written, largeFileBytes, "bytes reported by write");
      const expected = digest();
      equal((await c.stat("/large.bin")).size, largeFileBytes, "size");
      const got = await digestOf(await c.read("/large.bin"));
      equal(got.bytes, largeFileBytes, "bytes read");
      equal(got.hex, expected, "sha256 of what was read");
      const offset = Math.floor(largeFileBytes / 3) + 7;
      const tail = await digestOf(await c.read("/large.bin", { offset }));
      equal(tail.bytes, largeFileBytes - offset, "bytes read from an offset");
    },
  },
  {
    name: "reads start at the given offset",
    async run(c) {
      const data = randomBytes(300_000);
      await c.write("/offsets.bin", streamOf(data));
      for (const offset of [0, 1, 65_535, 65_536, 65_537, data.length - 1, data.length]) {
        sameBytes(
          await readBytes(c, "/offsets.bin", offset),
          data.subarray(offset),
          `read from ${offset}`,
        );
      }
    },
  },
  {
    name: "a cancelled read leaves the file usable",
    async run(c) {
      const data = randomBytes(2 * MIB);
      await c.write("/cancel.bin", streamOf(data));
      const stream = await c.read("/cancel.bin");
      const reader = stream.getReader();
      const first = await reader.read();
      check(!first.done, "the first chunk arrives");
      await reader.cancel();
      sameBytes(await readBytes(c, "/cancel.bin"), data, "read after a cancelled read");
      await c.remove("/cancel.bin");
    },
  },
  {
    name: "a write replaces the whole previous file",
    async run(c) {
      await writeText(c, "/replace.txt", "a long first version");
      await writeText(c, "/replace.txt", "short");
      await expectText(c, "/replace.txt", "short", "content after replacing");
      equal((await c.stat("/replace.txt")).size, 5, "size after replacing");
    },
  },
  {
    name: "append adds to the end and creates missing files",
    async run(c, { partialWrites }) {
      await writeText(c, "/log.txt", "one\n");
      const attempt = () => c.write("/log.txt", textStream("two\n"), { position: "append" });
      if (!partialWrites) {
        await rejectsWith(attempt, ["permission_denied", "io"], "append when unsupported");
        await expectText(c, "/log.txt", "one\n", "file intact after a refused append");
        return;
      }
      equal(await attempt(), 4, "bytes reported by append");
      await expectText(c, "/log.txt", "one\ntwo\n", "content after append");
      await c.write("/new-log.txt", textStream("first"), { position: "append" });
      await expectText(c, "/new-log.txt", "first", "append to a missing file");
    },
  },
  {
    name: "a write at an offset keeps what is before it and drops what follows",
    async run(c, { partialWrites }) {
      await writeText(c, "/resume.txt", "hello world");
      const attempt = () => c.write("/resume.txt", textStream("!!"), { position: 5 });
      if (!partialWrites) {
        await rejectsWith(attempt, ["permission_denied", "io"], "offset write when unsupported");
        await expectText(c, "/resume.txt", "hello world", "file intact after a refused write");
        return;
      }
      equal(await attempt(), 2, "bytes reported by an offset write");
      await expectText(c, "/resume.txt", "hello!!", "content after an offset write");
      const big = randomBytes(6 * MIB + 3);
      await c.write("/resume.bin", streamOf(big.subarray(0, 4 * MIB)));
      await c.write("/resume.bin", streamOf(big.subarray(3 * MIB)), { position: 3 * MIB });
      sameBytes(await readBytes(c, "/resume.bin"), big, "a resumed large upload");
    },
  },
  {
    name: "exclusive writes create only new files, one winner among many",
    async run(c) {
      await c.write("/unique.txt", textStream("mine"), { exclusive: true });
      await expectText(c, "/unique.txt", "mine", "exclusive write of a new file");
      await rejectsWith(
        () => c.write("/unique.txt", textStream("theirs"), { exclusive: true }),
        "already_exists",
        "exclusive write over an existing file",
      );
      await expectText(c, "/unique.txt", "mine", "file intact after a refused exclusive write");
      const results = await Promise.allSettled(
        Array.from(
          { length: 6 },
          (_, i) => c.write("/race.txt", textStream(`writer ${i}`), { exclusive: true }),
        ),
      );
      const winners = results.flatMap((result, i) => result.status === "fulfilled" ? [i] : []);
      equal(winners.length, 1, "exclusive writers that won");
      for (const result of results) {
        if (result.status === "rejected") {
          check(
            result.reason instanceof StorageError && result.reason.kind === "already_exists",
            `a losing exclusive writer fails with already_exists, got ${String(result.reason)}`,
          );
        }
      }
      await expectText(c, "/race.txt", `writer ${winners[0]}`, "the winner's content");
    },
  },
  {
    name: "unicode and space names work everywhere",
    async run(c) {
      const folder = "/ünïcödé 日本語 folder";
      const file = `${folder}/file with  two spaces (1) 100% 😀.txt`;
      await c.mkdir(folder);
      await writeText(c, file, "unicode");
      sameList(await listNames(c, "/"), ["ünïcödé 日本語 folder"], "root listing");
      sameList(await listNames(c, folder), ["file with  two spaces (1) 100% 😀.txt"], "listing");
      await expectText(c, file, "unicode", "read");
      const renamed = `${folder}/ñew näme ½.txt`;
      await c.rename(file, renamed);
      await expectText(c, renamed, "unicode", "read after rename");
      await rejectsWith(() => c.stat(file), "not_found", "old unicode name after rename");
      await c.remove(renamed);
      await c.rmdir(folder);
    },
  },
];
