/**
 * How closely the bandwidth limit holds, measured by curl: downloads and
 * uploads of one user at several limits, then two sessions of one user at
 * once (they share the budget). Not a test; prints a table.
 *
 *   deno run --allow-all bench/throttle.ts [--seconds 3]
 */

import { parseArgs } from "node:util";
import { FtpServer, type FtpUser, MemoryStorage, silentLogger } from "../mod.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" } } });
const seconds = Number(values.seconds);
const KIB = 1024;

async function curl(args: string[]): Promise<{ bytes: number; seconds: number }> {
  const output = await new Deno.Command("curl", { args: ["-sS", ...args], stderr: "inherit" })
    .output();
  if (!output.success) throw new Error(`curl ${args.join(" ")} failed`);
  const [bytes, time] = new TextDecoder().decode(output.stdout).trim().split(" ").map(Number);
  return { bytes, seconds: time };
}

const local = await Deno.makeTempDir({ prefix: "exftp-throttle-" });
console.log("| limit (KiB/s) | direction | sessions | measured (KiB/s) | off by |");
console.log("| --- | --- | --- | --- | --- |");
for (const rate of [64 * KIB, 512 * KIB, 4096 * KIB]) {
  const storage = new MemoryStorage();
  const size = rate * seconds;
  const bytes = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
  const file = new Uint8Array(size);
  for (let i = 0; i < size; i += bytes.length) file.set(bytes.subarray(0, size - i), i);
  await storage.write("/data.bin", new Blob([file]).stream());
  await Deno.writeFile(`${local}/data.bin`, file);
  const user: Partial<FtpUser> = { downloadBytesPerS: rate, uploadBytesPerS: rate };
  await using server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    logger: silentLogger,
    storage,
    authenticator: { authenticate: ({ username }) => Promise.resolve({ username, ...user }) },
  });
  const { port } = await server.listen();
  const url = (path: string) => `ftp://u:p@127.0.0.1:${port}${path}`;
  const report = (direction: string, sessions: number, bytes: number, time: number) => {
    const measured = bytes / time;
    console.log(
      `| ${rate / KIB} | ${direction} | ${sessions} | ${(measured / KIB).toFixed(1)} | ${
        ((measured / rate - 1) * 100).toFixed(1)
      } % |`,
    );
  };
  const down = await curl([
    "-o",
    "/dev/null",
    "-w",
    "%{size_download} %{time_total}",
    url("/data.bin"),
  ]);
  report("download", 1, down.bytes, down.seconds);
  const up = await curl([
    "-T",
    `${local}/data.bin`,
    "-w",
    "%{size_upload} %{time_total}",
    url("/up.bin"),
  ]);
  report("upload", 1, up.bytes, up.seconds);
  const started = performance.now();
  const both = await Promise.all(
    [1, 2].map(() =>
      curl(["-o", "/dev/null", "-w", "%{size_download} %{time_total}", url("/data.bin")])
    ),
  );
  report("download", 2, both[0].bytes + both[1].bytes, (performance.now() - started) / 1000);
}
await Deno.remove(local, { recursive: true });
