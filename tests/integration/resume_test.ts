/**
 * Resumed and segmented transfers with real clients: curl `-C -` both ways,
 * lftp `pget -n 4`, python ftplib `rest=`, and npm basic-ftp `startAt`/`appendFrom`.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import { Client } from "basic-ftp";
import { hasCommand, randomBytes, sha256, startServer, waitFor } from "../helpers.ts";
import { FileStorage } from "../../mod.ts";
import { faultyStorage } from "../../src/testing/mod.ts";
import { ftpUrl, runOk, tempDir } from "./_clients.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

Deno.test({
  name: "curl -C - resumes a download and an upload (SIZE then APPE)",
  ignore: !hasCommand("curl"),
  async fn() {
    await using ts = await startServer();
    await using local = await tempDir();
    const data = randomBytes(2 * 1024 * 1024 + 333);
    await Deno.writeFile(`${ts.root}/down.bin`, data);
    // A download that stopped after 700 000 bytes.
    await Deno.writeFile(`${local.path}/down.bin`, data.subarray(0, 700_000));
    const url = ftpUrl(ts).replace("ftp://", "ftp://user:pw@");
    await runOk("curl", ["-sS", "-C", "-", "-o", `${local.path}/down.bin`, `${url}down.bin`]);
    assert.equal(await sha256(await Deno.readFile(`${local.path}/down.bin`)), await sha256(data));

    // An upload that stopped after 1 000 000 bytes.
    await Deno.writeFile(`${ts.root}/up.bin`, data.subarray(0, 1_000_000));
    await Deno.writeFile(`${local.path}/up.bin`, data);
    await runOk("curl", ["-sS", "-C", "-", "-T", `${local.path}/up.bin`, `${url}up.bin`]);
    assert.equal(await sha256(await Deno.readFile(`${ts.root}/up.bin`)), await sha256(data));
  },
});

Deno.test({
  name: "lftp pget -n 4 downloads in four segments byte-exactly",
  ignore: !hasCommand("lftp"),
  async fn() {
    // Throttled per stream (4 MiB/s): unthrottled, loopback let the first
    // connection fetch the whole file before lftp opened the other segments,
    // so the number of RETRs depended on the machine's load.
    await using store = await tempDir();
    await using ts = await startServer({
      storage: faultyStorage(new FileStorage({ root: store.path }), {
        slowBytesPerSecond: 4 * 1024 * 1024,
      }),
    });
    await using local = await tempDir();
    const data = randomBytes(8 * 1024 * 1024 + 17);
    await Deno.writeFile(`${store.path}/seg.bin`, data);
    let ended = 0;
    const onEnd = (e: CustomEvent<{ command: string }>) => {
      if (e.detail.command === "RETR") ended++;
    };
    ts.server.addEventListener("transfer-complete", onEnd);
    ts.server.addEventListener("transfer-failed", onEnd);
    await runOk("lftp", [
      "-c",
      `set net:max-retries 1; open -u user,pw ${
        ftpUrl(ts)
      }; pget -n 4 seg.bin -o ${local.path}/seg.bin`,
    ]);
    assert.equal(await sha256(await Deno.readFile(`${local.path}/seg.bin`)), await sha256(data));
    // One RETR per segment; lftp may exit before the server has seen every
    // segment's connection end, so wait for the events rather than count at once.
    await waitFor(() => ended >= 4, 10_000, "a RETR per segment");
  },
});

Deno.test({
  name: "python ftplib retrbinary(rest=) and storbinary(rest=) resume at the offset",
  ignore: !hasCommand(PYTHON),
  async fn() {
    await using ts = await startServer();
    const data = randomBytes(500_000);
    await Deno.writeFile(`${ts.root}/r.bin`, data);
    await Deno.writeFile(`${ts.root}/w.bin`, data.subarray(0, 123_456));
    await using local = await tempDir();
    await Deno.writeFile(`${local.path}/full.bin`, data);
    const script = `
import ftplib, sys, io, hashlib, json
port, full = int(sys.argv[1]), sys.argv[2]
f = ftplib.FTP(); f.connect("127.0.0.1", port); f.login("user", "pw")
out = io.BytesIO()
f.retrbinary("RETR r.bin", out.write, rest=300000)
data = open(full, "rb").read()
f.storbinary("STOR w.bin", io.BytesIO(data[123456:]), rest=123456)
print(json.dumps({"tail": hashlib.sha256(out.getvalue()).hexdigest(), "size": f.size("w.bin")}))
f.quit()
`;
    const result = await runOk(PYTHON, [
      "-c",
      script,
      String(ts.addr.port),
      `${local.path}/full.bin`,
    ]);
    const out = JSON.parse(result.stdout);
    assert.equal(out.tail, await sha256(data.subarray(300_000)));
    assert.equal(out.size, data.length);
    assert.equal(await sha256(await Deno.readFile(`${ts.root}/w.bin`)), await sha256(data));
  },
});

Deno.test("basic-ftp resumes a download (startAt) and an upload (appendFrom)", async () => {
  await using ts = await startServer();
  const data = randomBytes(1_200_000);
  await Deno.writeFile(`${ts.root}/b.bin`, data);
  await Deno.writeFile(`${ts.root}/a.bin`, data.subarray(0, 400_000));
  const client = new Client(10_000);
  try {
    await client.access({ host: "127.0.0.1", port: ts.addr.port, user: "user", password: "pw" });
    const chunks: Uint8Array[] = [];
    await client.downloadTo(
      new Writable({
        write(chunk, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      }),
      "b.bin",
      900_000,
    );
    const tail = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
    assert.equal(await sha256(tail), await sha256(data.subarray(900_000)));
    await client.appendFrom(Readable.from([data.subarray(400_000)]), "a.bin");
    assert.equal(await sha256(await Deno.readFile(`${ts.root}/a.bin`)), await sha256(data));
  } finally {
    client.close();
  }
});
