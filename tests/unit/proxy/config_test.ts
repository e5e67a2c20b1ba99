import assert from "node:assert/strict";
import { buildOptions, ConfigError } from "../../../src/config/config.ts";
import { FtpServer, MemoryStorage, PassthroughAuthenticator } from "../../../mod.ts";

async function problem(raw: Record<string, unknown>): Promise<string> {
  try {
    await buildOptions(raw, "/tmp");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.ok(!error.message.includes("\n"));
    return error.message;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

Deno.test("proxy_protocol, passive_address rules and passive_port_sharing reach the options", async () => {
  const { options } = await buildOptions({
    proxy_protocol: { from: ["10.0.0.5/32", "fd00::/8"] },
    passive_address: [
      { networks: ["10.0.0.0/8"], address: "10.0.0.11" },
      { address: "connected" },
    ],
    passive_port_sharing: "by_client_address",
  }, "/tmp");
  assert.deepEqual(options.proxyProtocol, { from: ["10.0.0.5/32", "fd00::/8"] });
  assert.deepEqual(options.passiveAddress, [
    { networks: ["10.0.0.0/8"], address: "10.0.0.11" },
    { address: "connected" },
  ]);
  assert.equal(options.passivePortSharing, "by_client_address");
  const { options: plain } = await buildOptions({ passive_address: "connected" }, "/tmp");
  assert.equal(plain.passiveAddress, "connected");
});

Deno.test("bad proxy_protocol and passive_address values are one-line errors naming the key", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ proxy_protocol: ["10.0.0.0/8"] }, /^proxy_protocol: must be a mapping/],
    [{ proxy_protocol: {} }, /^proxy_protocol: from must be a non-empty list/],
    [{ proxy_protocol: { from: [] } }, /from must be a non-empty list/],
    [
      { proxy_protocol: { from: ["10.0.0.0/33"] } },
      /not an IP address or CIDR range: "10\.0\.0\.0\/33"/,
    ],
    [{ proxy_protocol: { from: ["lb.example.com"] } }, /"lb\.example\.com"/],
    [{ proxy_protocol: { from: ["10.0.0.1"], trust: true } }, /unknown key "trust"/],
    [{ passive_address: [] }, /^passive_address: must be an address, `connected`/],
    [{ passive_address: [{ networks: ["10.0.0.0/8"] }] }, /entry 1 needs an address/],
    [{ passive_address: [{ address: "1.2.3.4", nets: [] }] }, /unknown key "nets"/],
    [{ passive_address: [{ networks: "10.0.0.0/8", address: "1.2.3.4" }] }, /entry 1's networks/],
    [{ passive_address: [{ address: "1.2.3.4" }, { address: "999.1.1.1" }] }, /passive_address/],
    [{ passive_port_sharing: "yes" }, /^passive_port_sharing: must be off or by_client_address/],
  ];
  for (const [raw, message] of cases) assert.match(await problem(raw), message);
});

Deno.test("FtpServer refuses a bad proxyProtocol option, naming it", () => {
  const base = { authenticator: new PassthroughAuthenticator(), storage: new MemoryStorage() };
  assert.throws(
    () => new FtpServer({ ...base, proxyProtocol: { from: ["not a range"] } }),
    (error) => error instanceof TypeError && /Option "proxyProtocol"/.test(error.message),
  );
  assert.throws(
    () => new FtpServer({ ...base, proxyProtocol: { from: ["127.0.0.1"], headerTimeoutMs: 0 } }),
    /headerTimeoutMs/,
  );
});
