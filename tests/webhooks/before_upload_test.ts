/**
 * `before_upload_url`: asked before 150 with the user, path and the ALLO
 * size, signed like the events; a refusal is 553 before any byte moves, an
 * unreachable service 451, and nothing is stored either way.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { silentLogger } from "../../mod.ts";
import { hasCommand, randomBytes, startServer } from "../helpers.ts";
import { run } from "../integration/_clients.ts";
import { test } from "../deadline.ts";
import { closedPort, startReceiver } from "./_receiver.ts";

const SECRET = "before-upload-secret";

test("a refusal by the before-upload service is 553 with no 150, and nothing is stored", async () => {
  await using receiver = await startReceiver(SECRET);
  receiver.answer = ({ event }) => {
    const target = String(event.path);
    if (target.includes("forbidden")) return new Response("no", { status: 403 });
    if (target.includes("scan")) {
      return Response.json({ allow: false, reason: "Virus scan\r\n says no" });
    }
    if (target.includes("redirect")) {
      return new Response(null, { status: 302, headers: { Location: "http://127.0.0.1:9/" } });
    }
    return Response.json({ allow: true });
  };
  await using ts = await startServer({
    events: { beforeUploadUrl: receiver.url, secret: SECRET },
    logger: silentLogger,
  });
  const client = await ts.client("carol");
  assert.equal((await client.send("TYPE I")).code, 200);
  for (const name of ["forbidden.bin", "scan.bin", "redirect.bin"]) {
    const replies = await client.upload(`STOR ${name}`, randomBytes(1000));
    assert.deepEqual(replies.map((r) => r.code), [553], name);
    assert.ok(!existsSync(path.join(ts.root, name)), `${name} not stored`);
  }
  const scan = await client.upload("STOR scan.bin", randomBytes(10));
  assert.equal(scan[0].text, "Virus scan says no", "the service's reason, on one line");
  assert.deepEqual((await client.upload("STOU scan", randomBytes(10))).map((r) => r.code), [553]);
  assert.deepEqual([...Deno.readDirSync(ts.root)], [], "STOU's reserved name is removed");

  // Allowed: 150 and 226; the service was told the user, path, client and ALLO size.
  assert.equal((await client.send("ALLO 1234")).code, 202);
  const allowed = await client.upload("STOR ok.bin", randomBytes(1234));
  assert.deepEqual(allowed.map((r) => r.code), [150, 226]);
  assert.equal(Deno.statSync(path.join(ts.root, "ok.bin")).size, 1234);
  const asked = receiver.received.at(-1)!;
  assert.ok(asked.valid, "signed like the events");
  assert.equal(asked.headers.get("X-Exftp-Event"), "before_upload");
  assert.deepEqual(
    [asked.event.type, asked.event.user, asked.event.path, asked.event.size, asked.event.client],
    ["before_upload", "carol", "/ok.bin", 1234, "127.0.0.1"],
  );
  assert.equal(asked.event.command, "STOR");
});

test("an unreachable or failing before-upload service refuses the upload with 451 (fail closed)", async () => {
  await using receiver = await startReceiver(SECRET);
  receiver.answer = () => new Response("oops", { status: 500 });
  await using down = await startServer({
    events: { beforeUploadUrl: `http://127.0.0.1:${closedPort()}/check`, secret: SECRET },
    logger: silentLogger,
  });
  const client = await down.client();
  const replies = await client.upload("STOR a.bin", randomBytes(100));
  assert.deepEqual(replies.map((r) => r.code), [451]);
  assert.deepEqual([...Deno.readDirSync(down.root)], []);

  await using failing = await startServer({
    events: { beforeUploadUrl: receiver.url, secret: SECRET },
    logger: silentLogger,
  });
  const other = await failing.client();
  assert.deepEqual((await other.upload("APPE a.bin", randomBytes(100))).map((r) => r.code), [451]);
  assert.deepEqual([...Deno.readDirSync(failing.root)], []);

  receiver.mode = "hang";
  await using slow = await startServer({
    events: { beforeUploadUrl: receiver.url, secret: SECRET, timeoutMs: 200 },
    logger: silentLogger,
  });
  const third = await slow.client();
  const started = Date.now();
  assert.deepEqual((await third.upload("STOR a.bin", randomBytes(100))).map((r) => r.code), [451]);
  assert.ok(Date.now() - started < 3000);
});

test({
  name: "curl's upload refused by the before-upload service fails and stores nothing",
  ignore: !hasCommand("curl"),
  async fn() {
    await using receiver = await startReceiver(SECRET);
    receiver.answer = () => new Response(null, { status: 403 });
    await using ts = await startServer({
      events: { beforeUploadUrl: receiver.url, secret: SECRET },
      logger: silentLogger,
    });
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, randomBytes(100_000));
    try {
      const result = await run("curl", [
        "-sS",
        "--user",
        "dave:x",
        "-T",
        file,
        `ftp://127.0.0.1:${ts.addr.port}/up.bin`,
      ]);
      assert.ok(!result.success);
      assert.match(result.stderr, /553/);
    } finally {
      await Deno.remove(file);
    }
    assert.deepEqual([...Deno.readDirSync(ts.root)], []);
  },
});
