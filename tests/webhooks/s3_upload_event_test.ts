/**
 * On S3, an upload event is made only once the multipart upload is
 * completed: the server's transfer-complete event, which the webhook
 * listens to, is dispatched after CompleteMultipartUpload has answered.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../../mod.ts";
import { S3Storage } from "../../src/storage/s3/mod.ts";
import { randomBytes, startServer, waitFor } from "../helpers.ts";
import { s3rverClient, s3rverUnavailable, startS3rver } from "../s3rver.ts";
import { test } from "../deadline.ts";
import { startReceiver } from "./_receiver.ts";

const unavailable = s3rverUnavailable();
const SECRET = "s3-secret";

test({
  name: "an upload to S3 is announced only after its multipart upload is completed",
  ignore: unavailable !== undefined,
  deadlineMs: 120_000,
  async fn() {
    await using s3 = await startS3rver("events");
    const sdk = s3rverClient(s3);
    let completed = 0;
    sdk.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === "CompleteMultipartUploadCommand") completed++;
        return result;
      },
      { step: "initialize", name: "countCompletes" },
    );
    await using receiver = await startReceiver(SECRET);
    const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
    try {
      await using ts = await startServer({
        storage: new S3Storage({ bucket: s3.bucket, client: sdk, partSize: 5 << 20 }),
        events: { url: receiver.url, secret: SECRET, outbox, on: ["upload"] },
        logger: silentLogger,
      });
      const completedAtEvent: number[] = [];
      ts.server.addEventListener("transfer-complete", ({ detail }) => {
        if (detail.kind === "upload") completedAtEvent.push(completed);
      });
      const client = await ts.client();
      await client.send("TYPE I");
      const replies = await client.upload("STOR big.bin", randomBytes(12 << 20));
      assert.deepEqual(replies.map((r) => r.code), [150, 226]);
      assert.deepEqual(completedAtEvent, [1], "the multipart upload was completed first");
      await waitFor(() => receiver.accepted.length === 1, 10_000, "the upload event");
      const { event, valid } = receiver.accepted[0];
      assert.ok(valid);
      assert.deepEqual([event.type, event.path, event.bytes], ["upload", "/big.bin", 12 << 20]);
    } finally {
      sdk.destroy();
      await Deno.remove(outbox, { recursive: true });
    }
  },
});
