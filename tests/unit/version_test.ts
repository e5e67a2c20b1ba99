import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";
import denoJson from "../../deno.json" with { type: "json" };

Deno.test("VERSION equals the version in deno.json", () => {
  assert.equal(VERSION, denoJson.version);
});

Deno.test("VERSION is a semantic version", () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
});
