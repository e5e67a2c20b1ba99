import assert from "node:assert/strict";
import { S3_SDK_SPECIFIER } from "../../src/storage/s3/options.ts";

const config = JSON.parse(
  await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
) as { imports: Record<string, string>; tasks: Record<string, string> };

Deno.test("the deferred S3 SDK specifier is deno.json's, and deno compile includes it", () => {
  assert.equal(S3_SDK_SPECIFIER, config.imports["@aws-sdk/client-s3"]);
  assert.ok(
    config.tasks.compile.includes(`--include ${S3_SDK_SPECIFIER}`),
    "deno task compile embeds the SDK that the S3 connector imports at run time",
  );
});
