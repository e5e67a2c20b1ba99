import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { startCli } from "../cli_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("with network permission alone it serves an in-memory folder and says how to serve one on disk", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${cwd}/private.txt`, "stays on disk");
    const cli = await startCli(["--port", "0"], {
      permissions: ["--allow-net=127.0.0.1"],
      cwd,
      until: /Serving an in-memory folder/,
    });
    try {
      assert.match(
        cli.seen,
        /^Serving an in-memory folder \(nothing on disk; gone at exit\)\. To serve a folder: deno run --allow-net=127\.0\.0\.1 --allow-read=DIR --allow-write=DIR \S*main\.ts --root DIR$/m,
      );
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("user", "pw");
      await client.send("TYPE I");
      assert.equal((await client.send("SIZE private.txt")).code, 550);
      const readme = new TextDecoder().decode((await client.download("RETR README.txt")).data);
      assert.match(readme, /lives in exftp's memory/);
      assert.match(readme, /--root DIR/);
      const upload = await client.upload("STOR up.txt", new TextEncoder().encode("in memory"));
      assert.equal(upload.at(-1)?.code, 226);
      const back = await client.download("RETR up.txt");
      assert.equal(new TextDecoder().decode(back.data), "in memory");
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
    // Nothing was written to the working folder.
    assert.deepEqual([...Deno.readDirSync(cwd)].map((entry) => entry.name), ["private.txt"]);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a named root is never replaced by memory: missing permissions name that folder", async () => {
  const root = await Deno.makeTempDir();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", MAIN, "--root", root, "--port", "0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 2);
    assert.equal(
      new TextDecoder().decode(output.stderr).trim(),
      `exftp: missing Deno permissions; run again with --allow-read=${root} --allow-write=${root}`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("with read and write permission for the working folder, it serves that folder", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${cwd}/hello.txt`, "on disk");
    const cli = await startCli(["--port", "0"], {
      permissions: ["--allow-net=127.0.0.1", `--allow-read=${cwd}`, `--allow-write=${cwd}`],
      cwd,
    });
    try {
      assert.doesNotMatch(cli.seen, /in-memory/);
      using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: cli.port });
      await client.login("user", "pw");
      assert.equal((await client.send("SIZE hello.txt")).code, 213);
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
