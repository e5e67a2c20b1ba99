/** The conformance suite against the s3 connector over a real s3rver. */

import { testConformance } from "../../src/testing/conformance.ts";
import { S3Storage } from "../../src/storage/s3.ts";
import { s3rverUnavailable, startS3rver } from "../s3rver.ts";

const unavailable = s3rverUnavailable();

Deno.test({
  name: `s3 connector passes the conformance suite${
    unavailable ? ` (ignored: ${unavailable})` : ""
  }`,
  ignore: unavailable !== undefined,
  async fn(t) {
    await using s3 = await startS3rver();
    // One client for every step; each step gets a prefix of its own.
    const base = new S3Storage(s3.options());
    try {
      await testConformance(t, () =>
        Promise.resolve({
          connector: base.forPrefix(`conformance-${crypto.randomUUID()}`),
          cleanup() {},
        }));
    } finally {
      base.destroy();
    }
  },
});
