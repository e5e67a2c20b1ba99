/**
 * The file connector on its own (it is public API): symlinks that point out
 * of the root or to a folder, the server's temporary names, orphaned
 * temporary files, and names on disk that are not valid UTF-8.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileStorage, StorageError, type StorageErrorKind } from "../../mod.ts";
import { TEMP_PREFIX, type UploadMode } from "../../src/storage/file.ts";
import type { FileInfo } from "../../src/storage/types.ts";
import { ScopedStorage } from "../../src/storage/scoped.ts";

const PYTHON = "python3";

async function tempRoot(): Promise<{ root: string } & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "exftp-file-" });
  return {
    root,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

function stream(text: string): ReadableStream<Uint8Array> {
  return ReadableStream.from([new TextEncoder().encode(text)]);
}

async function names(storage: FileStorage, path: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of storage.list(path)) found.push(entry.name);
  return found.sort();
}

async function entries(storage: FileStorage, path: string): Promise<FileInfo[]> {
  const found: FileInfo[] = [];
  for await (const entry of storage.list(path)) found.push(entry);
  return found;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Asserts a StorageError of this kind (and a message matching `text`, if given). */
async function refused(
  action: Promise<unknown>,
  kind: StorageErrorKind,
  text?: RegExp,
): Promise<string> {
  let message = "";
  await assert.rejects(action, (error) => {
    assert.ok(error instanceof StorageError, `not a StorageError: ${error}`);
    assert.equal(error.kind, kind, error.message);
    if (text) assert.match(error.message, text);
    message = error.message;
    return true;
  });
  return message;
}

/** Create a file whose name is raw bytes (Deno can only name files in UTF-8). */
async function createRawName(folder: string, name: string): Promise<void> {
  const script = "import os, sys\n" +
    "fd = os.open(os.fsencode(sys.argv[1]) + bytes.fromhex(sys.argv[2]), " +
    "os.O_CREAT | os.O_WRONLY, 0o644)\nos.write(fd, b'data')\nos.close(fd)\n";
  const hex = Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, "0"))
    .join("").replace("3f", "fffe"); // "?" in the name stands for the invalid bytes ff fe
  const done = await new Deno.Command(PYTHON, { args: ["-c", script, folder + "/", hex] })
    .output();
  assert.ok(done.success, new TextDecoder().decode(done.stderr));
}

Deno.test("rmdir of a symlink to a folder removes nothing: not a folder, the link and its target stay", async () => {
  await using dir = await tempRoot();
  const storage = new FileStorage({ root: dir.root });
  await Deno.mkdir(join(dir.root, "target"));
  await Deno.symlink(join(dir.root, "target"), join(dir.root, "link"));
  await refused(storage.rmdir("/link"), "not_a_directory", /symbolic link.*DELE/);
  assert.ok((await Deno.stat(join(dir.root, "target"))).isDirectory, "the target is still there");
  assert.ok((await Deno.lstat(join(dir.root, "link"))).isSymlink, "the link is still there");
  // A folder reached through a symlinked parent is the named folder: it goes.
  await Deno.mkdir(join(dir.root, "target", "inner"));
  await storage.rmdir("/link/inner");
  assert.equal(await exists(join(dir.root, "target", "inner")), false);
  // DELE removes the link itself, never the target.
  await storage.remove("/link");
  assert.equal(await exists(join(dir.root, "link")), false);
  assert.ok((await Deno.stat(join(dir.root, "target"))).isDirectory);
});

Deno.test("a symlink to a sibling named like the root plus a suffix (<root>-private) is not served", async () => {
  await using dir = await tempRoot();
  const privateDir = `${dir.root}-private`;
  await Deno.mkdir(privateDir);
  try {
    await Deno.writeTextFile(join(privateDir, "secret.txt"), "secret\n");
    await Deno.symlink(privateDir, join(dir.root, "private"));
    await Deno.symlink(join(privateDir, "secret.txt"), join(dir.root, "secret.txt"));
    const storage = new FileStorage({ root: dir.root });

    assert.deepEqual(await names(storage, "/"), [], "neither link is listed");
    await refused(storage.stat("/private"), "permission_denied");
    await refused(storage.list("/private")[Symbol.asyncIterator]().next(), "permission_denied");
    await refused(storage.stat("/private/secret.txt"), "permission_denied");
    await refused(storage.read("/private/secret.txt"), "permission_denied");
    await refused(storage.read("/secret.txt"), "permission_denied");
    await refused(storage.write("/private/new.txt", stream("x")), "permission_denied");
    await refused(storage.write("/secret.txt", stream("x")), "permission_denied");
    await refused(storage.mkdir("/private/sub"), "permission_denied");
    await refused(storage.remove("/private/secret.txt"), "permission_denied");
    await refused(storage.rename("/private/secret.txt", "/stolen.txt"), "permission_denied");
    await refused(storage.chmod("/private/secret.txt", 0o777), "permission_denied");
    assert.deepEqual([...Deno.readDirSync(privateDir)].map((e) => e.name), ["secret.txt"]);
    assert.equal(await Deno.readTextFile(join(privateDir, "secret.txt")), "secret\n");
    assert.equal((await Deno.stat(join(privateDir, "secret.txt"))).mode! & 0o777, 0o644);
  } finally {
    await Deno.remove(privateDir, { recursive: true });
  }
});

for (const uploadMode of ["atomic", "atomic_resume", "direct"] as UploadMode[]) {
  Deno.test(`write() (${uploadMode}) through a file symlink pointing outside never writes outside`, async () => {
    await using dir = await tempRoot();
    const outside = await Deno.makeTempFile({ prefix: "exftp-outside-" });
    try {
      await Deno.writeTextFile(outside, "outside\n");
      await Deno.symlink(outside, join(dir.root, "leak.txt"));
      const storage = new FileStorage({ root: dir.root, uploadMode });

      for (const position of ["truncate", "append", 2] as const) {
        await refused(
          storage.write("/leak.txt", stream("overwritten"), { position }),
          "permission_denied",
        );
      }
      await refused(storage.write("/leak.txt", stream("x"), { exclusive: true }), "already_exists");
      assert.equal(await Deno.readTextFile(outside), "outside\n");
      assert.ok((await Deno.lstat(join(dir.root, "leak.txt"))).isSymlink, "the link stays a link");

      // Nor read, stat or list through it.
      await refused(storage.read("/leak.txt"), "permission_denied");
      await refused(storage.stat("/leak.txt"), "permission_denied");
      assert.deepEqual(await names(storage, "/"), []);
      await refused(storage.setModifiedTime("/leak.txt", new Date(0)), "permission_denied");
      // Renaming and deleting act on the link, never on the file it points to.
      await storage.rename("/leak.txt", "/moved.txt");
      assert.ok((await Deno.lstat(join(dir.root, "moved.txt"))).isSymlink);
      await storage.remove("/moved.txt");
      assert.equal(await exists(join(dir.root, "moved.txt")), false);
      assert.equal(await Deno.readTextFile(outside), "outside\n");
      assert.deepEqual([...Deno.readDirSync(dir.root)], [], "no temporary file is left");
    } finally {
      await Deno.remove(outside);
    }
  });
}

Deno.test("the server's temporary names can be neither created nor addressed (550, with the reason)", async () => {
  await using dir = await tempRoot();
  const storage = new FileStorage({ root: dir.root });
  const temp = `${TEMP_PREFIX}mine`;
  await Deno.writeTextFile(join(dir.root, "a.txt"), "a");
  await Deno.writeTextFile(join(dir.root, temp), "an upload in progress");

  await refused(storage.write(`/${temp}`, stream("x")), "permission_denied", /reserved/);
  await refused(storage.write(`/${TEMP_PREFIX}`, stream("x")), "permission_denied");
  await refused(storage.mkdir(`/${temp}2`), "permission_denied");
  await refused(storage.rename("/a.txt", `/${temp}`), "permission_denied");
  await refused(storage.write(`/${temp}/b.txt`, stream("x")), "permission_denied");
  await refused(storage.stat(`/${temp}`), "permission_denied", /reserved/);
  await refused(storage.read(`/${temp}`), "permission_denied");
  await refused(storage.remove(`/${temp}`), "permission_denied");
  await refused(storage.rename(`/${temp}`, "/b.txt"), "permission_denied");
  await refused(storage.chmod(`/${temp}`, 0o600), "permission_denied");
  assert.equal(await Deno.readTextFile(join(dir.root, temp)), "an upload in progress");
  assert.equal(await Deno.readTextFile(join(dir.root, "a.txt")), "a");
  // Names that merely contain the prefix are ordinary names.
  await storage.write(`/x${TEMP_PREFIX}`, stream("fine"));
  await storage.write(`/${TEMP_PREFIX.slice(0, -1)}`, stream("fine"));
  assert.deepEqual(await names(storage, "/"), [".exftp-upload", "a.txt", `x${TEMP_PREFIX}`]);
});

Deno.test("orphaned temporary files are removed when their folder is listed or removed", async () => {
  await using dir = await tempRoot();
  const storage = new FileStorage({ root: dir.root });
  const hoursAgo = new Date(Date.now() - 2 * 3600_000);
  await Deno.mkdir(join(dir.root, "d"));
  const orphan = join(dir.root, "d", `${TEMP_PREFIX}crashed`);
  const live = join(dir.root, "d", `${TEMP_PREFIX}live`);
  await Deno.writeTextFile(orphan, "left by a crash");
  await Deno.utime(orphan, hoursAgo, hoursAgo);
  await Deno.writeTextFile(live, "being written");
  await Deno.writeTextFile(join(dir.root, "d", "kept.txt"), "k");

  assert.deepEqual(await names(storage, "/d"), ["kept.txt"]);
  assert.equal(await exists(orphan), false, "the stale one went when the folder was listed");
  assert.equal(await exists(live), true, "a recent one is an upload in progress");

  // RMD: a folder that only an upload in progress holds is not removed, and says why.
  await storage.remove("/d/kept.txt");
  await refused(storage.rmdir("/d"), "not_empty", /upload into it is in progress/);
  // Once that temp file is stale, RMD removes it and the folder.
  await Deno.utime(live, hoursAgo, hoursAgo);
  await storage.rmdir("/d");
  assert.equal(await exists(join(dir.root, "d")), false);

  // The bound is an option.
  await Deno.mkdir(join(dir.root, "e"));
  await Deno.writeTextFile(join(dir.root, "e", `${TEMP_PREFIX}x`), "x");
  await new FileStorage({ root: dir.root, staleUploadAfterMs: 0 }).rmdir("/e");
  assert.equal(await exists(join(dir.root, "e")), false);
});

Deno.test({
  name: "names that are not valid UTF-8 are listed with U+FFFD, and refused with a reason",
  ignore: !new Deno.Command("sh", { args: ["-c", `command -v ${PYTHON}`] }).outputSync().success,
  async fn() {
    await using dir = await tempRoot();
    const storage = new FileStorage({ root: dir.root });
    await Deno.mkdir(join(dir.root, "d"));
    await createRawName(join(dir.root, "d"), "bad?.txt");
    await Deno.writeTextFile(join(dir.root, "d", "good.txt"), "g");
    const shown = "bad\uFFFD\uFFFD.txt";

    const listed = await entries(storage, "/d");
    assert.deepEqual(listed.map((e) => [e.name, e.type]).sort(), [
      [shown, "file"],
      ["good.txt", "file"],
    ]);
    const attempts = [
      () => storage.stat(`/d/${shown}`),
      () => storage.read(`/d/${shown}`),
      () => storage.remove(`/d/${shown}`),
      () => storage.rename(`/d/${shown}`, "/d/renamed.txt"),
      () => storage.chmod(`/d/${shown}`, 0o600),
    ];
    for (const attempt of attempts) {
      await refused(attempt(), "not_found", /not valid UTF-8.*rename it on the server/);
    }
    // A name with U+FFFD that is simply not there is just not found.
    const plain = await refused(storage.stat("/d/none\uFFFD.txt"), "not_found");
    assert.doesNotMatch(plain, /UTF-8/);

    await storage.remove("/d/good.txt");
    await refused(storage.rmdir("/d"), "not_empty", /1 name\(s\) that are not valid UTF-8/);
    assert.equal([...Deno.readDirSync(join(dir.root, "d"))].length, 1, "the file is still there");
  },
});

Deno.test("the root's (or a home's) permissions can't be changed", async () => {
  await using dir = await tempRoot();
  await Deno.mkdir(join(dir.root, "home"));
  const storage = new FileStorage({ root: dir.root });
  const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
  const [root, home] = [await mode(dir.root), await mode(join(dir.root, "home"))];
  await refused(storage.chmod("/", 0), "permission_denied");
  await refused(new ScopedStorage(storage, "/home").chmod!("/", 0), "permission_denied");
  assert.equal(await mode(dir.root), root);
  assert.equal(await mode(join(dir.root, "home")), home);
});
