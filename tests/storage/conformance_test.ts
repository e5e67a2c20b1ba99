/** The conformance suite against the file and memory connectors (S3: s3_conformance_test.ts). */

import { FileStorage } from "../../mod.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { ScopedStorage } from "../../src/storage/scoped.ts";
import { runConformance } from "../../src/testing/conformance.ts";

runConformance("file connector passes the conformance suite", async () => {
  const root = await Deno.makeTempDir({ prefix: "exftp-conformance-" });
  return {
    connector: new FileStorage({ root }),
    cleanup: () => Deno.remove(root, { recursive: true }),
  };
});

runConformance(
  "memory connector passes the conformance suite",
  () => Promise.resolve({ connector: new MemoryStorage(), cleanup() {} }),
);

runConformance("a file connector scoped to a home passes the conformance suite", async () => {
  const root = await Deno.makeTempDir({ prefix: "exftp-conformance-home-" });
  await Deno.mkdir(`${root}/users/alice`, { recursive: true });
  const connector = new ScopedStorage(new FileStorage({ root }), "/users/alice");
  // Reads keep the file connector's fast path through the scope.
  if (!connector.openReader) throw new Error("openReader was not passed through");
  return { connector, cleanup: () => Deno.remove(root, { recursive: true }) };
});
