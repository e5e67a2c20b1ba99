/**
 * What a PROXY header costs per login: the same login (connect, 220, USER,
 * PASS, 230, QUIT, 221) against one in-process server, sent plain by a peer
 * that is not trusted, and with a v1 or v2 header by a trusted one; plus the
 * parser alone. Rounds alternate the three so they share the machine's state.
 *
 *   deno run --allow-all bench/proxy_header.ts [--logins N] [--rounds N] [--concurrency N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import * as net from "node:net";
import { FtpServer, MemoryStorage, PassthroughAuthenticator, silentLogger } from "../mod.ts";
import { parseProxyHeader } from "../src/proxy/header.ts";

const { values } = parseArgs({
  options: {
    logins: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "1" },
  },
});
const LOGINS = Number(values.logins);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const encoder = new TextEncoder();
const V1 = encoder.encode("PROXY TCP4 192.0.2.7 127.0.0.1 50000 21\r\n");
const V2 = new Uint8Array([
  ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  0x21,
  0x11,
  0,
  12,
  ...[192, 0, 2, 7, 127, 0, 0, 1, 0xc3, 0x50, 0, 21],
]);

function parserNs(bytes: Uint8Array): number {
  const n = 1_000_000;
  for (let i = 0; i < 10_000; i++) parseProxyHeader(bytes); // warm up
  const started = performance.now();
  for (let i = 0; i < n; i++) parseProxyHeader(bytes);
  return (performance.now() - started) * 1e6 / n;
}

/** One login from `localAddress`, the header (if any) sent first; resolves when 221 arrives. */
function login(port: number, localAddress: string, header?: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress, noDelay: true });
    let text = "";
    let step = 0;
    socket.on("error", reject);
    socket.on("connect", () => header && socket.write(header));
    socket.on("data", (chunk: Uint8Array) => {
      text += new TextDecoder().decode(chunk);
      const replies = [["220 ", "USER bench\r\n"], ["331 ", "PASS x\r\n"], ["230 ", "QUIT\r\n"]];
      while (step < 3 && text.includes(replies[step][0])) {
        socket.write(replies[step][1]);
        text = text.slice(text.indexOf(replies[step][0]) + 4);
        step++;
      }
      if (step === 3 && text.includes("221 ")) {
        socket.destroy();
        resolve();
      }
    });
  });
}

/**
 * Wall time and CPU time (this process: server and client together, user +
 * system) per login, in µs. CPU time is the steadier figure on a shared
 * machine: other processes stretch the wall clock, not this process's CPU.
 */
async function timeLogins(port: number, localAddress: string, header?: Uint8Array) {
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < LOGINS) await login(port, localAddress, header);
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    wall: (performance.now() - started) * 1000 / LOGINS,
    cpu: (used.user + used.system) / LOGINS,
  };
}

const server = new FtpServer({
  port: 0,
  minPassivePort: 0,
  maxPassivePort: 0,
  maxSessionsPerIp: 1000,
  authenticator: new PassthroughAuthenticator(),
  storage: new MemoryStorage(),
  logger: silentLogger,
  // The "balancer" is 127.0.0.1; plain clients come from 127.0.0.2, never read as PROXY.
  proxyProtocol: { from: ["127.0.0.1/32"] },
});
const { port } = await server.listen();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kinds = {
  plain: () => timeLogins(port, "127.0.0.2"),
  v1: () => timeLogins(port, "127.0.0.1", V1),
  v2: () => timeLogins(port, "127.0.0.1", V2),
};
const results: Record<string, { wall: number; cpu: number }[]> = { plain: [], v1: [], v2: [] };
await kinds.plain(); // warm up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(kinds)) results[name].push(await run());
}
await server.close();

console.log(
  `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, load ${
    Deno.loadavg()[0].toFixed(1)
  }, ${new Date().toISOString()}`,
);
console.log(
  `${LOGINS} logins per round, ${ROUNDS} rounds, concurrency ${CONCURRENCY}; median µs per login:`,
);
const base = (key: "wall" | "cpu") => median(results.plain.map((r) => r[key]));
for (const name of Object.keys(kinds)) {
  const cells = (["cpu", "wall"] as const).map((key) => {
    const us = median(results[name].map((r) => r[key]));
    const delta = us - base(key);
    return `${key} ${us.toFixed(0).padStart(5)}${
      name === "plain" ? "        " : ` (${delta >= 0 ? "+" : ""}${delta.toFixed(0).padStart(4)})`
    }`;
  });
  console.log(`  ${name.padEnd(6)} ${cells.join("   ")}`);
}
console.log(
  `parser alone: v1 ${parserNs(V1).toFixed(0)} ns, v2 ${parserNs(V2).toFixed(0)} ns per header`,
);
