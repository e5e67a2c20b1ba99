import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { VERSION } from "../../src/version.ts";
import { startCli } from "../cli_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("the single-file bundle (deno task bundle) runs the CLI and serves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bundle = `${dir}/exftp.js`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "-o", bundle, MAIN],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
    const version = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", bundle, "--version"],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(version.stdout).trim(), `exftp ${VERSION}`);
    const hasher = new Deno.Command(Deno.execPath(), {
      args: ["run", bundle, "hash-password", "--iterations", "5000"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = hasher.stdin.getWriter();
    await writer.write(new TextEncoder().encode("bundled secret\n"));
    await writer.close();
    const hashed = await hasher.output();
    assert.equal(hashed.code, 0, new TextDecoder().decode(hashed.stderr));
    assert.match(new TextDecoder().decode(hashed.stdout), /^pbkdf2-sha256\$5000\$\S+\$\S+\n$/);
    await Deno.writeTextFile(`${dir}/hello.txt`, "bundled");
    const cli = await startCli(["--root", dir, "--port", "0"], {
      script: bundle,
      env: { MIN_PASSIVE_PORT: "0", MAX_PASSIVE_PORT: "0" },
    });
    try {
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("user", "pw");
      await client.send("TYPE I");
      assert.equal(
        new TextDecoder().decode((await client.download("RETR hello.txt")).data),
        "bundled",
      );
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
