/**
 * The module graph of `src/` has no cycle: the session uses the commands and
 * the data layer, never the reverse. Type-only imports count too (a cycle of
 * types is still two modules that can't be understood apart).
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "../deadline.ts";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Relative `.ts` specifiers of every import and re-export in `code` (comments stripped). */
export function relativeImports(code: string): string[] {
  const stripped = code
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const found: string[] = [];
  const pattern = /(?:^|[;\s])(?:import|export)\b[^;'"]*?from\s*["'](\.{1,2}\/[^"']+)["']/g;
  for (const match of stripped.matchAll(pattern)) found.push(match[1]);
  for (const match of stripped.matchAll(/\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) {
    found.push(match[1]);
  }
  for (const match of stripped.matchAll(/(?:^|[;\s])import\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    found.push(match[1]);
  }
  return found;
}

/** Every `.ts` file under `folder`, as absolute paths. */
function sourceFiles(folder: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(folder)) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) files.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** The first cycle found in `graph`, as a list of nodes that starts and ends with the same one. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "visiting") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "visiting");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("relativeImports finds imports, type imports, re-exports and dynamic imports", () => {
  const code = [
    `import { a } from "./a.ts";`,
    `import type {`,
    `  B,`,
    `} from "../b.ts";`,
    `export { c } from "./c.ts";`,
    `export * from "./d.ts";`,
    `const e = await import("./e.ts");`,
    `import "./f.ts";`,
    `import { g } from "node:g";`,
    `// import { h } from "./h.ts";`,
    `/** import { i } from "./i.ts"; */`,
  ].join("\n");
  assert.deepEqual(relativeImports(code).sort(), [
    "../b.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
    "./e.ts",
    "./f.ts",
  ]);
});

test("findCycle reports a cycle and passes a tree", () => {
  const tree = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assert.equal(findCycle(tree), undefined);
  const looped = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]);
  assert.deepEqual(findCycle(looped), ["a", "b", "c", "a"]);
});

test("src/ has no import cycle", () => {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const imports = relativeImports(Deno.readTextFileSync(file))
      .map((specifier) => resolve(dirname(file), specifier))
      .filter((target) => target.startsWith(SRC));
    graph.set(relative(SRC, file), imports.map((target) => relative(SRC, target)));
  }
  assert.ok(graph.size > 30, `found ${graph.size} modules under src/`);
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle in src/: ${cycle?.join(" → ")}`);
});
