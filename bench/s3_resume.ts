/**
 * What `upload_mode: atomic_resume` costs and saves on S3 (s3rver on
 * loopback): the latency of SIZE with and without the kept-upload lookup,
 * and a 64 MiB upload broken after about half, resumed with REST + STOR,
 * against sending it again whole.
 *
 *     deno run -A bench/s3_resume.ts [--size-mib 64] [--sizes 300]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { S3Storage } from "../src/storage/s3/mod.ts";
import { FtpServer } from "../src/server.ts";
import { PassthroughAuthenticator, silentLogger } from "../mod.ts";
import { RawFtpClient } from "../src/testing/raw_client.ts";
import { startS3rver } from "../tests/s3rver.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "size-mib": { type: "string", default: "64" },
    sizes: { type: "string", default: "300" },
  },
});
const MIB = 1024 * 1024;
const size = Number(values["size-mib"]) * MIB;
const sizes = Number(values.sizes);

await using s3 = await startS3rver();
const data = new Uint8Array(size);
for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));

async function serve(uploadMode: "atomic" | "atomic_resume") {
  const storage = new S3Storage(s3.options({ prefix: `bench-${uploadMode}`, uploadMode }));
  const server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    logger: silentLogger,
    authenticator: new PassthroughAuthenticator(),
    storage,
  });
  const client = await RawFtpClient.connect(await server.listen());
  await client.login("bench", "pw");
  await client.send("TYPE I");
  return {
    client,
    async [Symbol.asyncDispose]() {
      client.close();
      await server.close();
      storage.destroy();
    },
  };
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const mode of ["atomic", "atomic_resume"] as const) {
  await using node = await serve(mode);
  await node.client.upload("STOR small.bin", data.subarray(0, 1000));
  const times: number[] = [];
  for (let i = 0; i < sizes; i++) {
    const start = performance.now();
    await node.client.send("SIZE small.bin");
    times.push(performance.now() - start);
  }
  console.log(`${mode}: SIZE median ${median(times).toFixed(2)} ms over ${sizes}`);
}

{
  await using node = await serve("atomic_resume");
  let start = performance.now();
  await node.client.upload("STOR whole.bin", data);
  const whole = performance.now() - start;
  // Break one after about half: ABOR once the data connection has taken half the file.
  const connection = await node.client.passive();
  await node.client.send("STOR broken.bin");
  const half = data.subarray(0, size / 2 + MIB);
  for (let offset = 0; offset < half.length;) {
    offset += await connection.write(half.subarray(offset));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the parts land
  await node.client.write("ABOR\r\n");
  await node.client.read();
  await node.client.read();
  connection.close();
  const kept = Number((await node.client.send("SIZE broken.bin")).text);
  start = performance.now();
  await node.client.send(`REST ${kept}`);
  const replies = await node.client.upload("STOR broken.bin", data.subarray(kept));
  const resumed = performance.now() - start;
  console.log(
    `${size / MIB} MiB whole: ${whole.toFixed(0)} ms; resumed after ${kept / MIB} MiB kept: ` +
      `${resumed.toFixed(0)} ms sending ${(size - kept) / MIB} MiB (${replies.at(-1)?.code})`,
  );
}
