/** The conformance suite against the file and memory connectors (S3: s3_conformance_test.ts). */

import { FileStorage } from "../../mod.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
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
