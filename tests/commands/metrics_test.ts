import assert from "node:assert/strict";
import { serveMetrics } from "../../mod.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { startServer } from "../helpers.ts";
import { test } from "../deadline.ts";

test("/metrics counts sessions, logins, transfers and bytes; /healthz answers", async () => {
  await using ts = await startServer({ maxLoginFailures: 5 });
  const endpoint = serveMetrics(ts.server, { port: 0 });
  try {
    const { port } = endpoint.addr as Deno.NetAddr;
    const client = await ts.client();
    await client.send("TYPE I");
    await client.upload("STOR m.bin", new Uint8Array(1234));
    await client.download("RETR m.bin");
    using bad = await RawFtpClient.connect(ts.addr);
    await bad.send("USER root");
    await bad.send("PASS x");
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /^exftp_sessions 2$/m);
    assert.match(text, /^exftp_sessions_opened_total 2$/m);
    assert.match(text, /^exftp_logins_total\{result="ok"\} 1$/m);
    assert.match(text, /^exftp_logins_total\{result="failed"\} 1$/m);
    assert.match(text, /^exftp_transfers_total\{kind="upload",outcome="ok"\} 1$/m);
    assert.match(text, /^exftp_transfer_bytes_total\{kind="download"\} 1234$/m);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const missing = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await endpoint.shutdown();
  }
});
