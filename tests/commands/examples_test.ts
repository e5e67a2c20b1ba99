import assert from "node:assert/strict";
import { buildOptions } from "../../src/config/config.ts";
import { FtpServer } from "../../src/server.ts";
import { silentLogger } from "../../mod.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { test } from "../deadline.ts";

const examples = new URL("../../examples/", import.meta.url).pathname;

test("modules named in the config: a custom authenticator and a per-user connector", async () => {
  const root = await Deno.makeTempDir();
  try {
    const { options } = await buildOptions({
      ftp_port: 0,
      min_passive_port: 0,
      max_passive_port: 0,
      login_failure_delay_ms: 0,
      authenticator: "./custom_authenticator.ts",
      authenticator_config: {
        users: { alice: { password: "a-pw" }, bob: { password: "b-pw", read_only: true } },
      },
      storage_connector: "./user_folders.ts",
      storage_config: { root },
    }, examples);
    await using server = new FtpServer({ ...options, logger: silentLogger });
    const addr = await server.listen();

    using alice = await RawFtpClient.connect(addr);
    await alice.send("USER alice");
    assert.equal((await alice.send("PASS wrong")).code, 530);
    await alice.login("alice", "a-pw");
    await alice.send("TYPE I");
    assert.equal(
      (await alice.upload("STOR mine.txt", new TextEncoder().encode("A"))).at(-1)?.code,
      226,
    );
    assert.equal(await Deno.readTextFile(`${root}/alice/mine.txt`), "A");

    using bob = await RawFtpClient.connect(addr);
    await bob.login("bob", "b-pw");
    assert.deepEqual((await bob.listing("NLST")).lines, [], "bob does not see alice's files");
    assert.equal((await bob.send("MKD x")).code, 550, "bob is read-only");
    assert.equal((await bob.upload("STOR x", new Uint8Array(1)))[0].code, 550);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
