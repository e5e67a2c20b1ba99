/**
 * What a plain folder server does not load (RSS after start, issue 16): the
 * static import closure of `main.ts` — what Deno evaluates before the CLI
 * runs, whatever the config says — excludes the code that only some
 * configurations need, and every such module is still reachable through a
 * literal `import()`, so `deno compile` and `deno bundle` include it.
 *
 * The graph is Deno's own (`deno info --json`): type-only imports are not
 * code, and a dynamic `import()` is marked as such.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { relative } from "node:path";
import { test } from "../deadline.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

interface GraphModule {
  specifier: string;
  dependencies?: {
    code?: { specifier?: string };
    isDynamic?: boolean;
  }[];
}

/** `deno info --json` of `entry` (a path relative to the repo). */
async function moduleGraph(entry: string): Promise<Map<string, GraphModule>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: GraphModule[] };
  return new Map(graph.modules.map((module) => [module.specifier, module]));
}

/** Repo-relative paths of the modules reachable from `entry`, statically only or through `import()` too. */
function closure(
  modules: Map<string, GraphModule>,
  entry: string,
  withDynamic: boolean,
): Set<string> {
  const seen = new Set<string>();
  const stack = [new URL(entry, `file://${REPO}`).href];
  while (stack.length) {
    const specifier = stack.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target && (withDynamic || !dependency.isDynamic)) stack.push(target);
    }
  }
  return new Set(
    [...seen].filter((s) => s.startsWith("file:")).map((s) => relative(REPO, fileURLToPath(s))),
  );
}

/** Modules a server of a plain folder (no cluster, events, PROXY, metrics…) must not load. */
const ON_DEMAND = [
  "src/cluster/redis.ts", // cluster.redis_url
  "src/webhooks/webhooks.ts", // events
  "src/webhooks/deliverer.ts",
  "src/webhooks/outbox.ts",
  "src/webhooks/queue_outbox.ts",
  "src/proxy/read.ts", // proxy_protocol, once a trusted balancer connects
  "src/proxy/header.ts",
  "src/auth/basic.ts", // authenticator: the configured one only
  "src/auth/http.ts",
  "src/auth/bearer.ts",
  "src/auth/digest.ts",
  "src/auth/webhook.ts",
  "src/auth/users_file.ts",
  "src/auth/password_hash.ts",
  "src/config/docs.ts", // --help
  "src/config/hash_password.ts", // hash-password
  "src/metrics.ts", // metrics_port
  "src/storage/s3/mod.ts", // storage_connector: s3
  "src/storage/memory.ts", // storage_connector: memory, or no folder permission
];

test("main.ts loads the code only some configurations need on demand (literal import())", async () => {
  const modules = await moduleGraph("main.ts");
  const loaded = closure(modules, "main.ts", false);
  assert.ok(loaded.has("src/server.ts") && loaded.size > 40, `static closure: ${[...loaded]}`);
  const reachable = closure(modules, "main.ts", true);
  for (const module of ON_DEMAND) {
    assert.ok(!loaded.has(module), `${module} is in main.ts's static import closure`);
    assert.ok(reachable.has(module), `${module} is not reachable from main.ts by import()`);
  }
});

test("src/server.ts alone (the library) doesn't load the cluster, webhook or PROXY code", async () => {
  const modules = await moduleGraph("src/server.ts");
  const loaded = closure(modules, "src/server.ts", false);
  for (const module of ON_DEMAND.filter((m) => /cluster|webhooks|proxy/.test(m))) {
    assert.ok(!loaded.has(module), `${module} is in src/server.ts's static import closure`);
  }
});
