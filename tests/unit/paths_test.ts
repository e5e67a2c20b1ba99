import assert from "node:assert/strict";
import { baseName, joinPath, parentPath, resolveVirtualPath } from "../../src/paths.ts";
import { FtpError } from "../../src/errors.ts";

/** cwd × argument → expected virtual path. */
const CASES: ReadonlyArray<[cwd: string, argument: string, expected: string]> = [
  // relative names
  ["/", "a", "/a"],
  ["/", "a/b/c.txt", "/a/b/c.txt"],
  ["/home", "file.txt", "/home/file.txt"],
  ["/home/user", "docs/report.pdf", "/home/user/docs/report.pdf"],
  // empty argument and "." stay where we are
  ["/", "", "/"],
  ["/home", "", "/home"],
  ["/", ".", "/"],
  ["/home", ".", "/home"],
  ["/home", "./", "/home"],
  ["/home", "./a/./b/.", "/home/a/b"],
  // ".." climbs, but never above the root
  ["/home/user", "..", "/home"],
  ["/home/user", "../..", "/"],
  ["/home/user", "../../..", "/"],
  ["/", "..", "/"],
  ["/", "../../x", "/x"],
  ["/home", "../etc/passwd", "/etc/passwd"],
  ["/a/b", "../../../../../../etc/passwd", "/etc/passwd"],
  ["/a/b", "c/../../d", "/a/d"],
  ["/", "a/../../../b", "/b"],
  ["/", "...", "/..."],
  ["/", "..hidden", "/..hidden"],
  // absolute arguments ignore the cwd
  ["/home/user", "/", "/"],
  ["/home/user", "/etc", "/etc"],
  ["/home/user", "/../etc", "/etc"],
  ["/home/user", "/a/../../b", "/b"],
  // doubled slashes collapse
  ["/", "//", "/"],
  ["/", "///", "/"],
  ["/", "//etc", "/etc"],
  ["/home", "a//b", "/home/a/b"],
  ["/home", "a///b//", "/home/a/b"],
  // trailing slashes are dropped (one spelling per path)
  ["/home", "docs/", "/home/docs"],
  ["/home", "/docs/", "/docs"],
  ["/home", "docs//", "/home/docs"],
  // names with spaces, quotes, unicode and other odd characters are kept as they are
  ["/", "my file.txt", "/my file.txt"],
  ["/", " leading and trailing ", "/ leading and trailing "],
  ["/My Documents", "a b/c  d", "/My Documents/a b/c  d"],
  ["/", 'say "hi".txt', '/say "hi".txt'],
  ["/", "café/日本語/😀.txt", "/café/日本語/😀.txt"],
  ["/ünï", "..", "/"],
  ["/", "back\\slash", "/back\\slash"],
  ["/", "-la", "/-la"],
  ["/", "~", "/~"],
  ["/", "a\tb", "/a\tb"],
];

Deno.test("resolveVirtualPath resolves every cwd × argument case", () => {
  for (const [cwd, argument, expected] of CASES) {
    assert.equal(
      resolveVirtualPath(cwd, argument),
      expected,
      `resolveVirtualPath(${JSON.stringify(cwd)}, ${JSON.stringify(argument)})`,
    );
  }
});

Deno.test("resolveVirtualPath results are absolute, clean and never contain ..", () => {
  for (const [cwd, argument] of CASES) {
    const path = resolveVirtualPath(cwd, argument);
    assert.ok(path.startsWith("/"), path);
    assert.ok(path === "/" || !path.endsWith("/"), path);
    assert.ok(!path.includes("//"), path);
    assert.ok(!path.split("/").includes(".."), path);
    assert.ok(!path.split("/").includes("."), path);
  }
});

Deno.test("resolveVirtualPath is idempotent on its results", () => {
  for (const [cwd, argument] of CASES) {
    const path = resolveVirtualPath(cwd, argument);
    assert.equal(resolveVirtualPath("/elsewhere", path), path);
    assert.equal(resolveVirtualPath(path, "."), path);
  }
});

Deno.test("resolveVirtualPath refuses CR, LF and NUL with 553", () => {
  const bad = [
    "a\rb",
    "a\nb",
    "a\0b",
    "evil\r\n226 fake",
    "\n",
    "/abs/with\nbreak",
    "trailing\r",
    "dir/\0/x",
  ];
  for (const argument of bad) {
    assert.throws(
      () => resolveVirtualPath("/", argument),
      (error: unknown) => error instanceof FtpError && error.code === 553,
      JSON.stringify(argument),
    );
  }
});

Deno.test("baseName, parentPath and joinPath work on virtual paths", () => {
  assert.equal(baseName("/a/b.txt"), "b.txt");
  assert.equal(baseName("/"), "");
  assert.equal(parentPath("/a/b.txt"), "/a");
  assert.equal(parentPath("/a"), "/");
  assert.equal(parentPath("/"), "/");
  assert.equal(joinPath("/", "x"), "/x");
  assert.equal(joinPath("/a", "x y"), "/a/x y");
});
