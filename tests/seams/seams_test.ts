/**
 * Seams between features merged in parallel (issues 13–16): what each one
 * alone tested but their composition broke. In-process, through the command
 * harness, with the user's storage composed from a profile as at login.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { FtpUser } from "../../src/auth/types.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { commandHarness } from "../../src/testing/harness.ts";
import { countingReads } from "../checksums/_fixtures.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("HASH of a fresh upload reads nothing under a quota, a bandwidth limit and in a mounted folder", async () => {
  const home = countingReads(new MemoryStorage());
  const archive = countingReads(new MemoryStorage());
  const user: FtpUser = {
    username: "alice",
    quotaBytes: 1_000_000,
    downloadBytesPerS: 1_000_000,
    folders: [{ path: "/archive", storage: "archive" }],
  };
  await using h = commandHarness({
    storage: home,
    user,
    options: { storages: { archive } },
  });
  for (const path of ["/home.txt", "/archive/mounted.txt"]) {
    assert.equal((await h.transfer(`STOR ${path}`, `bytes of ${path}`)).code, 226);
    const reply = await h.run(`HASH ${path}`);
    assert.equal(reply.code, 213, reply.text);
    assert.equal(reply.text.split(" ")[2], sha256(`bytes of ${path}`));
  }
  // The checksums kept by the uploads answered: no byte was read back.
  assert.deepEqual([home.reads, archive.reads], [0, 0]);
});
