import assert from "node:assert/strict";
import { StorageError } from "../../src/errors.ts";
import { MountStorage } from "../../src/policy/mounts.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { ScopedStorage } from "../../src/storage/scoped.ts";
import { runConformance } from "../../src/testing/conformance.ts";

const text = (value: string) => new Blob([value]).stream();

async function names(storage: MountStorage, path: string): Promise<string[]> {
  return (await Array.fromAsync(storage.list(path))).map((e) => `${e.name}:${e.type}`).sort();
}

async function rejectsWith(promise: Promise<unknown>, kind: string, text: RegExp) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof StorageError);
    assert.equal(error.kind, kind);
    assert.match(error.message, text);
    return true;
  });
}

// Every path of the suite inside a mount: the routing keeps the connector contract.
runConformance("a mounted folder passes the conformance suite", () => {
  const storage = new MountStorage(new MemoryStorage(), [
    { path: "/mnt/archive", storage: new MemoryStorage() },
  ]);
  return Promise.resolve({ connector: new ScopedStorage(storage, "/mnt/archive"), cleanup() {} });
});

Deno.test("mounts: listings of a parent show mount points as folders, the way to them too", async () => {
  const home = new MemoryStorage();
  await home.write("/a.txt", text("home"));
  await home.mkdir("/archive"); // hidden by the mount of the same name
  const archive = new MemoryStorage();
  await archive.write("/old.txt", text("old"));
  const storage = new MountStorage(home, [
    { path: "/archive", storage: archive },
    { path: "/deep/er/team", storage: new MemoryStorage() },
  ]);
  assert.deepEqual(await names(storage, "/"), [
    "a.txt:file",
    "archive:directory",
    "deep:directory",
  ]);
  assert.deepEqual(await names(storage, "/deep"), ["er:directory"]);
  assert.deepEqual(await names(storage, "/archive"), ["old.txt:file"]);
  assert.equal((await storage.stat("/deep/er")).type, "directory");
  assert.deepEqual(await storage.stat("/archive"), {
    ...(await archive.stat("/")),
    name: "archive",
    type: "directory",
  });
  const read = await new Response(await storage.read("/archive/old.txt")).text();
  assert.equal(read, "old");
  await storage.write("/archive/new.txt", text("new"));
  assert.equal((await archive.stat("/new.txt")).size, 3);
  await rejectsWith(storage.stat("/deep/nope"), "not_found", /./);
});

Deno.test("mounts: a rename across storages is refused; mount points can't be removed or renamed", async () => {
  const home = new MemoryStorage();
  await home.write("/a.txt", text("home"));
  const archive = new MemoryStorage();
  await archive.write("/b.txt", text("b"));
  const storage = new MountStorage(home, [
    { path: "/archive", storage: archive },
    { path: "/x/y", storage: new MemoryStorage() },
  ]);
  await rejectsWith(storage.rename("/a.txt", "/archive/a.txt"), "permission_denied", /across/);
  await rejectsWith(storage.rename("/archive/b.txt", "/b.txt"), "permission_denied", /across/);
  await storage.rename("/archive/b.txt", "/archive/c.txt"); // inside one storage: fine
  assert.equal((await archive.stat("/c.txt")).type, "file");
  await rejectsWith(storage.rmdir("/archive"), "permission_denied", /mounted folder/);
  await rejectsWith(storage.rmdir("/x"), "permission_denied", /mounted folder/);
  await rejectsWith(storage.rename("/archive", "/old"), "permission_denied", /mounted folder/);
  await rejectsWith(storage.rename("/a.txt", "/archive"), "permission_denied", /mounted folder/);
  await rejectsWith(storage.remove("/archive"), "permission_denied", /mounted folder/);
  await rejectsWith(storage.mkdir("/archive"), "already_exists", /exists/);
  await rejectsWith(storage.write("/archive", text("x")), "permission_denied", /mounted/);
});

Deno.test("mounts: only storages opened for the session are closed with it", async () => {
  const closed: string[] = [];
  const closing = (name: string) =>
    Object.assign(new MemoryStorage(), { close: () => void closed.push(name) });
  const storage = new MountStorage(closing("home"), [
    { path: "/shared", storage: closing("shared") },
    { path: "/own", storage: closing("own"), owned: true },
  ]);
  await storage.close();
  assert.deepEqual(closed.sort(), ["home", "own"]);
});
