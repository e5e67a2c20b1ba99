/**
 * `deno task readme-table`: write the options table of README.md from the
 * settings table (`schema.ts`). `tests/unit/config/readme_table_test.ts`
 * fails when the two disagree.
 *
 * @module
 */

import { OPTIONS_TABLE_HEADER, optionsTable } from "./docs.ts";

/** The lines of `readme` where its options table starts and ends (exclusive). */
export function findOptionsTable(readme: string): { start: number; end: number } {
  const lines = readme.split("\n");
  const start = lines.findIndex((line) =>
    line.startsWith("|") &&
    line.split("|").slice(1, -1).map((cell) => cell.trim()).join() ===
      OPTIONS_TABLE_HEADER.join()
  );
  if (start === -1) throw new Error("README.md has no options table");
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return { start, end };
}

/** `readme` with its options table replaced by the one made from the settings. */
export function withOptionsTable(readme: string): string {
  const lines = readme.split("\n");
  const { start, end } = findOptionsTable(readme);
  lines.splice(start, end - start, optionsTable());
  return lines.join("\n");
}

if (import.meta.main) {
  const file = new URL("../../README.md", import.meta.url);
  const readme = await Deno.readTextFile(file);
  const updated = withOptionsTable(readme);
  if (updated === readme) {
    console.log("README.md: the options table is up to date");
  } else {
    await Deno.writeTextFile(file, updated);
    console.log("README.md: options table rewritten from src/config/schema.ts");
  }
}
