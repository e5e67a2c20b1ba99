/**
 * What checksums cost: each algorithm's speed on one core, and STOR through
 * curl on loopback into /dev/shm with no tap, with the default tap
 * (`UPLOAD_CHECKSUMS`) and with every algorithm.
 *
 *   deno run --allow-all bench/checksums.ts [--size-mib N] [--runs N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  createDigest,
  UPLOAD_CHECKSUMS,
} from "../src/checksums/algorithms.ts";
import { FileStorage, FtpServer, PassthroughAuthenticator, silentLogger } from "../mod.ts";

const MIB = 1024 * 1024;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    "size-mib": { type: "string", default: "512" },
    runs: { type: "string", default: "3" },
  },
});
const sizeMiB = Number(values["size-mib"]);
const runs = Number(values.runs);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`Digest speed, one core, ${sizeMiB} MiB in 256 KiB pieces:`);
const piece = new Uint8Array(256 * 1024);
crypto.getRandomValues(piece.subarray(0, 65536));
for (const algorithm of CHECKSUM_ALGORITHMS) {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    const digest = createDigest(algorithm);
    for (let n = 0; n < sizeMiB * MIB; n += piece.length) digest.update(piece);
    digest.hex();
    times.push((performance.now() - start) / 1000);
  }
  console.log(`  ${algorithm.padEnd(8)} ${(sizeMiB / median(times)).toFixed(0)} MiB/s`);
}

const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "exftp-bench-" });
const root = `${dir}/root`;
await Deno.mkdir(root);
const source = `${dir}/source.bin`;
{
  const file = await Deno.open(source, { write: true, create: true });
  const chunk = new Uint8Array(MIB);
  for (let i = 0; i < sizeMiB; i++) {
    for (let j = 0; j < MIB; j += 65536) crypto.getRandomValues(chunk.subarray(j, j + 65536));
    await file.write(chunk);
  }
  file.close();
}
const server = new FtpServer({
  port: 0,
  logger: silentLogger,
  authenticator: new PassthroughAuthenticator(),
  storage: new FileStorage({ root }),
});
const { port } = await server.listen();
// The tap's set, changed in place for the measurement only.
const uploadSet = UPLOAD_CHECKSUMS as ChecksumAlgorithm[];
const defaults = [...uploadSet];
const sets: [string, ChecksumAlgorithm[]][] = [
  ["no checksums", []],
  [`default (${defaults.join(", ")})`, defaults],
  ["all five", [...CHECKSUM_ALGORITHMS]],
];
console.log(`STOR of ${sizeMiB} MiB with curl into /dev/shm, median of ${runs} (interleaved):`);
const results = new Map<string, number[]>();
for (let run = 0; run < runs; run++) {
  for (const [name, set] of sets) {
    uploadSet.splice(0, uploadSet.length, ...set);
    const start = performance.now();
    const curl = await new Deno.Command("curl", {
      args: ["-sS", "-u", "u:p", "-T", source, `ftp://127.0.0.1:${port}/up.bin`],
    }).output();
    if (!curl.success) throw new Error(new TextDecoder().decode(curl.stderr));
    results.set(name, [...results.get(name) ?? [], (performance.now() - start) / 1000]);
  }
}
for (const [name] of sets) {
  const seconds = median(results.get(name)!);
  console.log(`  ${name.padEnd(40)} ${(sizeMiB / seconds).toFixed(0)} MiB/s`);
}
uploadSet.splice(0, uploadSet.length, ...defaults);
await server.close();
await Deno.remove(dir, { recursive: true });
