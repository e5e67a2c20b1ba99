/**
 * Docs as tests, TypeScript half: every `ts` block of README.md type-checks
 * against this checkout (its `jsr:@exftp/server` imports pointed at mod.ts),
 * so an example can't fall behind the API (the README's first example once
 * lacked the then newly required `authenticator`).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = new URL("../../", import.meta.url);
const MOD = new URL("mod.ts", REPO).href;
const TESTING = new URL("src/testing/mod.ts", REPO).href;

/** The `ts` fenced blocks of a Markdown text, with their first line numbers. */
function typescriptBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```ts") continue;
    const start = i + 1;
    while (++i < lines.length && lines[i].trim() !== "```");
    blocks.push({ line: start + 1, code: lines.slice(start, i).join("\n") });
  }
  return blocks;
}

Deno.test("every TypeScript example of README.md type-checks against this checkout", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", REPO));
  const blocks = typescriptBlocks(readme);
  assert.ok(blocks.length >= 3, `found ${blocks.length} ts blocks`);
  const dir = await Deno.makeTempDir({ prefix: "exftp-readme-ts-" });
  try {
    // The connector example imports its own connector: any connector will do.
    await Deno.writeTextFile(
      join(dir, "my_storage.ts"),
      `export { MemoryStorage as MyStorage } from "${MOD}";\n`,
    );
    const files: string[] = [];
    for (const { line, code } of blocks) {
      const file = join(dir, `readme_line_${line}.ts`);
      const local = code
        .replaceAll('"jsr:@exftp/server/testing"', `"${TESTING}"`)
        .replaceAll('"@exftp/server/testing"', `"${TESTING}"`)
        .replaceAll('"jsr:@exftp/server"', `"${MOD}"`)
        .replaceAll('"@exftp/server"', `"${MOD}"`);
      await Deno.writeTextFile(file, `${local}\nexport {};\n`);
      files.push(file);
    }
    const config = fileURLToPath(new URL("deno.json", REPO));
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", config, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const errors = new TextDecoder().decode(stderr).replaceAll(dir, "README.md");
    assert.equal(code, 0, `README TypeScript examples do not type-check:\n${errors}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
