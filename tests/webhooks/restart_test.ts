/**
 * The outbox survives a crash: the CLI is killed with SIGKILL while its
 * receiver is down, started again on the same outbox folder, and the
 * receiver then gets every event exactly as written before the crash.
 */

import assert from "node:assert/strict";
import * as path from "node:path";
import { startCli } from "../cli_process.ts";
import { hasCommand, randomBytes, waitFor } from "../helpers.ts";
import { runOk } from "../integration/_clients.ts";
import { test } from "../deadline.ts";
import { startReceiver } from "./_receiver.ts";

const SECRET = "restart-secret";

async function outboxBodies(folder: string): Promise<string[]> {
  const bodies: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name.endsWith(".json")) {
      // A file delivered (removed) between the listing and the read is no longer waiting.
      const body = await Deno.readTextFile(path.join(folder, entry.name)).catch((error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      });
      if (body !== undefined) bodies.push(body);
    }
  }
  return bodies.sort();
}

test({
  name:
    "events written to the outbox before a SIGKILL are delivered after the restart, exactly as written and validly signed",
  ignore: !hasCommand("curl"),
  deadlineMs: 90_000,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "exftp-restart-" });
    const root = path.join(work, "root");
    await Deno.mkdir(root);
    await using receiver = await startReceiver(SECRET);
    await receiver.stop(); // down: connections refused
    const config = path.join(work, "exftp.yaml");
    await Deno.writeTextFile(
      config,
      [
        "min_passive_port: 0",
        "max_passive_port: 0",
        "events:",
        `  url: ${receiver.url}`,
        `  secret: ${SECRET}`,
        "  on: [upload, delete]",
        "  retry_delay_ms: 50",
        "  outbox: outbox",
        "",
      ].join("\n"),
    );
    const outbox = path.join(work, "outbox");
    const file = path.join(work, "data.bin");
    await Deno.writeFile(file, randomBytes(200_000));
    try {
      const first = await startCli(["--config", config, "--port", "0", "--root", root]);
      const url = `ftp://127.0.0.1:${first.port}`;
      try {
        await runOk("curl", ["-sS", "--user", "u:p", "-T", file, `${url}/one.bin`]);
        await runOk("curl", ["-sS", "--user", "u:p", "-T", file, `${url}/two.bin`]);
        await runOk("curl", ["-sS", "--user", "u:p", `${url}/`, "-Q", "DELE one.bin"]);
        await waitFor(async () => (await outboxBodies(outbox)).length === 3, 10_000, "3 events");
      } finally {
        first.child.kill("SIGKILL");
        await first.child.status;
        await first.stop().catch(() => {});
      }
      const written = await outboxBodies(outbox);
      assert.deepEqual(
        written.map((body) => JSON.parse(body)).map((e) => `${e.type} ${e.path}`).sort(),
        ["delete /one.bin", "upload /one.bin", "upload /two.bin"],
      );
      assert.equal(receiver.received.length, 0);

      await receiver.start(); // back, on the same port
      const second = await startCli(["--config", config, "--port", "0", "--root", root]);
      try {
        await waitFor(() => receiver.accepted.length >= 3, 15_000, "delivery after restart");
        await waitFor(async () => (await outboxBodies(outbox)).length === 0, 5000, "empty outbox");
      } finally {
        await second.stop();
      }
      assert.deepEqual(receiver.accepted.map((r) => r.body).sort(), written);
      assert.ok(receiver.accepted.every((r) => r.valid));
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
