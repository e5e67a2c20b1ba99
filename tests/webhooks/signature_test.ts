import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { signWebhook, verifyWebhook } from "../../mod.ts";
import { retryDelay } from "../../src/webhooks/options.ts";
import { resolveWebhookOptions } from "../../src/webhooks/options.ts";
import { test } from "../deadline.ts";

test("the signature is HMAC-SHA256 of timestamp.body in hex, as the README shows", async () => {
  const body = '{"id":"1","type":"upload"}';
  const header = await signWebhook("s3cret", body, 1_700_000_000);
  const expected = createHmac("sha256", "s3cret").update(`1700000000.${body}`).digest("hex");
  assert.equal(header, `t=1700000000,v1=${expected}`);
});

test("verifyWebhook accepts the signed body and refuses any change, another secret or an old time", async () => {
  const body = '{"id":"1","type":"upload"}';
  const now = 1_700_000_000;
  const header = await signWebhook("s3cret", body, now);
  assert.ok(await verifyWebhook("s3cret", header, body, { now }));
  assert.ok(await verifyWebhook("s3cret", header, body, { now: now + 300 }));
  assert.ok(!(await verifyWebhook("s3cret", header, body + " ", { now })));
  assert.ok(!(await verifyWebhook("other", header, body, { now })));
  assert.ok(!(await verifyWebhook("s3cret", header, body, { now: now + 301 })));
  assert.ok(!(await verifyWebhook("s3cret", null, body, { now })));
  assert.ok(!(await verifyWebhook("s3cret", "t=x,v1=00", body, { now })));
  // A rotated secret: several v1 values, one matches.
  const rotated = `${header},v1=${"0".repeat(64)}`;
  assert.ok(await verifyWebhook("s3cret", rotated, body, { now }));
});

test("retry delays double from the first, stay within [half, whole] and stop at 5 minutes", () => {
  for (let attempt = 1; attempt <= 12; attempt++) {
    const ceiling = Math.min(300_000, 1000 * 2 ** (attempt - 1));
    assert.equal(retryDelay(attempt, 1000, () => 0), ceiling / 2);
    assert.equal(retryDelay(attempt, 1000, () => 1), ceiling);
  }
  assert.equal(retryDelay(1000, 1000, () => 1), 300_000);
});

test("events options: a secret and a URL are required, event names and numbers are checked", () => {
  assert.throws(() => resolveWebhookOptions({ secret: "", url: "http://x/" }), /events.secret/);
  assert.throws(() => resolveWebhookOptions({ secret: "s" }), /needs a "url"/);
  assert.throws(() => resolveWebhookOptions({ secret: "s", url: "ftp://x/" }), /events.url/);
  assert.throws(
    () => resolveWebhookOptions({ secret: "s", url: "http://x/", on: ["uplaod" as "upload"] }),
    /unknown event "uplaod"/,
  );
  assert.throws(
    () => resolveWebhookOptions({ secret: "s", url: "http://x/", retries: -1 }),
    RangeError,
  );
  const resolved = resolveWebhookOptions({ secret: "s", beforeUploadUrl: "http://x/check" });
  assert.equal(resolved.url, undefined);
  assert.equal(resolved.outboxFolder, "exftp-outbox");
  assert.equal(resolved.on.size, 8);
});
