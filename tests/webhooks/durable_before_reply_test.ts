/**
 * An upload's (or a delete's) event is in the outbox before the client hears
 * the outcome: a crash right after the 226 or 250 can't lose it.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../../mod.ts";
import { startServer } from "../helpers.ts";
import { test } from "../deadline.ts";

/** The events in the outbox folder, read at once (nothing delivers them: no receiver). */
function outboxEvents(folder: string): { type: string; path: string }[] {
  return [...Deno.readDirSync(folder)].filter((entry) =>
    entry.isFile && !entry.name.startsWith(".")
  ).map((entry) => {
    const body = JSON.parse(Deno.readTextFileSync(`${folder}/${entry.name}`));
    return { type: body.type, path: body.path };
  });
}

test("the 226 of STOR and the 250 of DELE come after their events are written to the outbox", async () => {
  const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
  // A port nothing listens on: events stay in the outbox.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = closed.addr;
  closed.close();
  try {
    await using ts = await startServer({
      events: {
        url: `http://127.0.0.1:${port}/events`,
        secret: "test-secret-do-not-use",
        outbox,
        retryDelayMs: 60_000,
      },
      logger: silentLogger,
    });
    const client = await ts.client("alice");
    for (let i = 0; i < 5; i++) {
      const replies = await client.upload(`STOR f${i}.bin`, new Uint8Array(1000));
      assert.equal(replies.at(-1)?.code, 226);
      // Read synchronously, before anything else can run.
      assert.ok(
        outboxEvents(outbox).some((e) => e.type === "upload" && e.path === `/f${i}.bin`),
        `the upload event of f${i}.bin is in the outbox when 226 arrives`,
      );
      assert.equal((await client.send(`DELE f${i}.bin`)).code, 250);
      assert.ok(
        outboxEvents(outbox).some((e) => e.type === "delete" && e.path === `/f${i}.bin`),
        `the delete event of f${i}.bin is in the outbox when 250 arrives`,
      );
    }
  } finally {
    await Deno.remove(outbox, { recursive: true });
  }
});
