import assert from "node:assert/strict";
import { buildCommandTable } from "../../../src/commands/table.ts";
import { parseCommandLine } from "../../../src/commands/dispatch.ts";
import { test } from "../../deadline.ts";

const commands = buildCommandTable();

test("parseCommandLine: ASCII upper-case verb, the argument exactly as sent", () => {
  const cases: [string, string, string][] = [
    ["NOOP", "NOOP", ""],
    ["stor a b.txt", "STOR", "a b.txt"],
    ["CWD  lead ", "CWD", " lead "],
    ["ſtor x", "ſTOR", "x"],
    ["", "", ""],
    ["\xff\xf4\xff\xf2ABOR", "ABOR", ""],
    ["junkSTAT /", "STAT", "/"],
    ["junkNOOP", "JUNKNOOP", ""],
  ];
  for (const [line, verb, argument] of cases) {
    assert.deepEqual(parseCommandLine(line, commands), { verb, argument }, JSON.stringify(line));
  }
});
