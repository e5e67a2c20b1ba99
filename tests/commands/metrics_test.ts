import assert from "node:assert/strict";
import { BasicAuthenticator, serveMetrics } from "../../mod.ts";
import { authHealthCheck } from "../../src/metrics.ts";
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

test("/healthz asks the auth service with its login method: a service without HEAD (501) is up", async () => {
  const methods: string[] = [];
  // Python's http.server and many small services answer 501 to a method they don't implement.
  const service = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    methods.push(request.method);
    return new Response(null, { status: request.method === "POST" ? 401 : 501 });
  });
  try {
    const authenticator = new BasicAuthenticator({
      loginUrl: `http://127.0.0.1:${service.addr.port}/login`,
      loginMethod: "POST",
    });
    const check = authHealthCheck(authenticator)!;
    await check.check(AbortSignal.timeout(3000)); // 401: reachable, and it says no without credentials
    assert.deepEqual(methods, ["POST"]);
  } finally {
    await service.shutdown();
  }
});
