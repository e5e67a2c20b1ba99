import assert from "node:assert/strict";
import type { FtpUser } from "../../src/auth/types.ts";
import { type Action, permFact, refusal } from "../../src/policy/permissions.ts";

const dropBox: FtpUser = {
  username: "drop",
  permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
};
const deep: FtpUser = {
  username: "deep",
  permissions: { "/a": ["*"], "/a/b": ["list"], "/a/b/c": ["delete"] },
};
const mounts: FtpUser = {
  username: "m",
  folders: [
    { path: "/archive", storage: "s3", readOnly: true },
    { path: "/archive/inbox", storage: "inbox" },
  ],
};

/** user × action × path → allowed, or the refusal's reason. */
const CASES: [FtpUser, Action, string, string][] = [
  [{ username: "free" }, "delete", "/x", "allowed"],
  [{ username: "ro", readOnly: true }, "download", "/x", "allowed"],
  [{ username: "ro", readOnly: true }, "upload", "/x", "read-only account"],
  [{ username: "ro", readOnly: true }, "chmod", "/x", "read-only account"],
  [dropBox, "list", "/", "allowed"],
  [dropBox, "download", "/a/b.txt", "allowed"],
  [dropBox, "upload", "/a.txt", "not granted"],
  [dropBox, "upload", "/incoming", "allowed"],
  [dropBox, "upload", "/incoming/x/y.txt", "allowed"],
  [dropBox, "download", "/incoming/y.txt", "not granted"], // deepest match wins
  [dropBox, "overwrite", "/incoming/y.txt", "not granted"],
  [dropBox, "upload", "/incomingx/y.txt", "not granted"], // a prefix is no folder
  [deep, "list", "/", "not granted"], // below no entry: nothing
  [deep, "rename", "/a/x", "allowed"],
  [deep, "rename", "/a/b/x", "not granted"],
  [deep, "delete", "/a/b/c/d", "allowed"],
  [deep, "list", "/a/b/c/d", "not granted"],
  [mounts, "download", "/archive/x", "allowed"],
  [mounts, "upload", "/archive/x", "read-only folder"],
  [mounts, "mkdir", "/archive", "read-only folder"],
  [mounts, "upload", "/archive/inbox/x", "allowed"], // a writable mount inside
  [mounts, "upload", "/other", "allowed"],
  [{ ...mounts, readOnly: true }, "upload", "/archive/inbox/x", "read-only account"],
];

for (const [user, action, path, expected] of CASES) {
  Deno.test(`permissions: ${user.username} ${action} ${path} → ${expected}`, () => {
    assert.equal(refusal(user, action, path)?.reason ?? "allowed", expected);
  });
}

Deno.test("permissions: the perm fact of MLSD follows the policy", () => {
  assert.equal(permFact({ username: "a" }, "/x", "directory"), "cdeflmp");
  assert.equal(permFact({ username: "a" }, "/x", "file"), "adfrw");
  assert.equal(permFact({ username: "a", readOnly: true }, "/x", "directory"), "el");
  assert.equal(permFact({ username: "a", readOnly: true }, "/x", "file"), "r");
  assert.equal(permFact(dropBox, "/incoming", "directory"), "cel");
  assert.equal(permFact(dropBox, "/incoming/f", "file"), "");
  assert.equal(permFact(dropBox, "/f", "file"), "r");
});
