import assert from "node:assert/strict";
import { parseListArguments } from "../../../src/commands/listing.ts";

/** argument → flags (sorted letters) and path. */
const CASES: ReadonlyArray<[argument: string, flags: string, path: string]> = [
  ["", "", ""],
  ["dir", "", "dir"],
  ["/path/to/dir", "", "/path/to/dir"],
  ["-la /path", "al", "/path"],
  ["-la", "al", ""],
  ["-l", "l", ""],
  ["-a", "a", ""],
  ["-a -l", "al", ""],
  ["-a -l /x", "al", "/x"],
  ["-al dir", "al", "dir"],
  ["-A", "A", ""],
  ["-l  two  spaces", "l", "two  spaces"],
  ["my folder", "", "my folder"],
  ["my folder/file name.txt", "", "my folder/file name.txt"],
  ["-la my folder", "al", "my folder"],
  ["-l /a -b", "l", "/a -b"], // only leading tokens are flags
  ["dir -l", "", "dir -l"],
  ["-", "", "-"],
  ["--", "", "--"],
  ["-l-x", "", "-l-x"], // not a flag token: a name starting with a dash
  ["ünï/日本", "", "ünï/日本"],
];

Deno.test("parseListArguments splits leading -x flags from the path", () => {
  for (const [argument, flags, path] of CASES) {
    const parsed = parseListArguments(argument);
    assert.equal([...parsed.flags].sort().join(""), flags, `flags of ${JSON.stringify(argument)}`);
    assert.equal(parsed.path, path, `path of ${JSON.stringify(argument)}`);
  }
});

Deno.test("parseListArguments collects every letter of a combined flag token", () => {
  const { flags, path } = parseListArguments("-laR");
  assert.deepEqual([...flags].sort(), ["R", "a", "l"]);
  assert.equal(path, "");
});
