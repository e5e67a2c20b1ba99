import assert from "node:assert/strict";
import { optionsTable, optionsTableRows, shownDefault } from "../../../src/config/docs.ts";
import { findOptionsTable } from "../../../src/config/readme_table.ts";
import { CLI_FLAGS, SETTINGS } from "../../../src/config/schema.ts";

const README = new URL("../../../README.md", import.meta.url);

/** The README's options table, one array of trimmed cells per row (header and rule dropped). */
async function readmeRows(): Promise<string[][]> {
  const readme = await Deno.readTextFile(README);
  const { start, end } = findOptionsTable(readme);
  return readme.split("\n").slice(start + 2, end).map((line) =>
    line.split("|").slice(1, -1).map((cell) => cell.trim())
  );
}

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, "$1");

Deno.test("README's options table has a row for every YAML key of the schema, in its order", async () => {
  const keys = (await readmeRows()).map((row) => unquote(row[1])).filter((key) => key);
  const schemaKeys = SETTINGS.flatMap((setting) => setting.key ? [setting.key] : []);
  assert.deepEqual(keys, schemaKeys, "run `deno task readme-table` after changing the schema");
});

Deno.test("README's options table names the schema's flags, environment variables and defaults", async () => {
  const rows = new Map((await readmeRows()).map((row) => [unquote(row[1]) || row[0], row]));
  for (const setting of SETTINGS.filter((setting) => setting.key)) {
    const row = rows.get(setting.key!);
    assert.ok(row, `no README row for ${setting.key}`);
    const [flag, , env, shown, meaning] = row;
    const expected = setting.flag ? `--${setting.flag.name} ${setting.flag.arg}` : "";
    assert.equal(unquote(flag), expected, `flag of ${setting.key}`);
    assert.equal(unquote(env), setting.env ?? "", `environment variable of ${setting.key}`);
    assert.equal(shown, shownDefault(setting), `default of ${setting.key}`);
    assert.equal(meaning, setting.doc, `meaning of ${setting.key}`);
  }
  const config = CLI_FLAGS.find((flag) => flag.name === "config")!;
  assert.ok(rows.has(`\`--config ${config.arg}\``), "no README row for --config");
});

Deno.test("README's options table is the one `deno task readme-table` writes", async () => {
  const readme = await Deno.readTextFile(README);
  const { start, end } = findOptionsTable(readme);
  assert.equal(
    readme.split("\n").slice(start, end).join("\n"),
    optionsTable(),
    "run `deno task readme-table`",
  );
  assert.equal(optionsTableRows().length, (await readmeRows()).length);
});

Deno.test("defaults shown in the README are in the YAML key's unit", () => {
  const shown = (key: string) => shownDefault(SETTINGS.find((setting) => setting.key === key)!);
  assert.equal(shown("idle_timeout_s"), "300");
  assert.equal(shown("ban_minutes"), "15");
  assert.equal(shown("login_failure_delay_ms"), "1000");
  assert.equal(shown("ftp_port"), "4040");
});
