/**
 * FTPS throughput: the same 1 GiB RETR and STOR through one exftp process, in clear (PROT C
 * without AUTH) and protected (AUTH TLS + PROT P), with curl as the client, interleaved rounds.
 *
 *   deno run --allow-all bench/ftps.ts [--size-mib N] [--runs N] [--min-version TLSv1.3]
 *
 * Uploads use `--tls-max 1.2`: curl before 8.8 can lose the end of a TLS 1.3 upload (curl
 * issue 6149), which exftp answers with 426. With `--min-version TLSv1.3` (`tls.min_version`)
 * uploads must use TLS 1.3, and a lost end fails the run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type CliProcess, startCli } from "../tests/cli_process.ts";
import { testCertificates } from "../tests/tls_fixture.ts";

const MIB = 1024 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(args: string[]): Promise<number> {
  const started = performance.now();
  const { code, stderr } = await new Deno.Command("curl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (code !== 0) throw new Error(`curl ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "size-mib": { type: "string" },
      runs: { type: "string" },
      "min-version": { type: "string" },
    },
  });
  const sizeMiB = Number(values["size-mib"] ?? 1024);
  const runs = Number(values.runs ?? 3);
  const minVersion = values["min-version"] ?? "TLSv1.2";
  const base = Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
  const work = await Deno.makeTempDir({ dir: base, prefix: "exftp-ftps-bench-" });
  let cli: CliProcess | undefined;
  try {
    const certs = await testCertificates();
    const root = `${work}/root`;
    await Deno.mkdir(root);
    const file = `${work}/data.bin`;
    const chunk = new Uint8Array(MIB);
    using out = await Deno.open(file, { write: true, create: true });
    for (let i = 0; i < sizeMiB; i++) {
      for (let j = 0; j < MIB; j += 65536) crypto.getRandomValues(chunk.subarray(j, j + 65536));
      await out.write(chunk);
    }
    await Deno.copyFile(file, `${root}/data.bin`);
    await Deno.writeTextFile(
      `${work}/exftp.yaml`,
      [
        "ftp_port: 0",
        "min_passive_port: 0",
        "max_passive_port: 0",
        `storage_config: { root: ${root} }`,
        "tls:",
        `  cert: ${certs.certFile}`,
        `  key: ${certs.keyFile}`,
        `  min_version: ${minVersion}`,
      ].join("\n"),
    );
    cli = await startCli(["--config", `${work}/exftp.yaml`]);
    const port = cli.port;
    const url = `ftp://bench:pw@localhost:${port}`;
    const tls = [
      "--ssl-reqd",
      "--cacert",
      certs.caFile,
      "--resolve",
      `localhost:${port}:127.0.0.1`,
    ];
    const uploadTls = minVersion === "TLSv1.3" ? [] : ["--tls-max", "1.2"];
    const plain = ["--resolve", `localhost:${port}:127.0.0.1`];
    const results: Record<string, number[]> = {
      "RETR plain": [],
      "RETR PROT P": [],
      "STOR plain": [],
      "STOR PROT P": [],
    };
    for (let round = 0; round < runs; round++) {
      results["RETR plain"].push(
        await timed(["-sS", ...plain, "-o", "/dev/null", `${url}/data.bin`]),
      );
      results["RETR PROT P"].push(
        await timed(["-sS", ...tls, "-o", "/dev/null", `${url}/data.bin`]),
      );
      results["STOR plain"].push(await timed(["-sS", ...plain, "-T", file, `${url}/up-plain.bin`]));
      results["STOR PROT P"].push(
        await timed(["-sS", ...tls, ...uploadTls, "-T", file, `${url}/up-tls.bin`]),
      );
      for (const name of ["up-plain.bin", "up-tls.bin"]) {
        if ((await Deno.stat(`${root}/${name}`)).size !== sizeMiB * MIB) {
          throw new Error(`${name} incomplete`);
        }
      }
    }
    const mibs = (k: string) => sizeMiB / median(results[k]);
    console.log(
      `exftp FTPS, ${sizeMiB} MiB, min_version ${minVersion}, median of ${runs} (curl, interleaved)`,
    );
    console.log("| transfer | plain MiB/s | PROT P MiB/s | PROT P / plain |");
    console.log("|---|---|---|---|");
    for (const op of ["RETR", "STOR"]) {
      const p = mibs(`${op} plain`);
      const t = mibs(`${op} PROT P`);
      console.log(`| ${op} | ${p.toFixed(0)} | ${t.toFixed(0)} | ${(t / p).toFixed(2)} |`);
    }
  } finally {
    await cli?.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
