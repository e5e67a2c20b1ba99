/** Shared pieces of the checksum tests: reference digests and a read-counting connector. */

import { join } from "node:path";
import type { StorageConnector } from "../../src/storage/types.ts";
import { run } from "../integration/_clients.ts";

/** A connector that counts `read` calls (to prove a kept checksum reads nothing). */
export function countingReads(inner: StorageConnector): StorageConnector & { reads: number } {
  const counted: StorageConnector & { reads: number } = {
    reads: 0,
    stat: (path) => inner.stat(path),
    list: (path) => inner.list(path),
    read(path, options) {
      counted.reads++;
      return inner.read(path, options);
    },
    write: (path, source, options) => inner.write(path, source, options),
    mkdir: (path) => inner.mkdir(path),
    rmdir: (path) => inner.rmdir(path),
    remove: (path) => inner.remove(path),
    rename: (from, to) => inner.rename(from, to),
  };
  if (inner.checksum) counted.checksum = (path, algorithm) => inner.checksum!(path, algorithm);
  return counted;
}

/**
 * Digests of a local file by the system tools (`sha256sum`, `sha512sum`,
 * `sha1sum`, `md5sum`) and Python's zlib.crc32, with this repo's names.
 */
export async function referenceDigests(file: string): Promise<Record<string, string>> {
  const tool = async (name: string) =>
    (await run(name, [file])).stdout.trim().split(/\s+/)[0].toLowerCase();
  const crc = await run("python3", [
    "-c",
    "import sys, zlib; print('%08x' % (zlib.crc32(open(sys.argv[1], 'rb').read()) & 0xffffffff))",
    file,
  ]);
  return {
    "SHA-256": await tool("sha256sum"),
    "SHA-512": await tool("sha512sum"),
    "SHA-1": await tool("sha1sum"),
    "MD5": await tool("md5sum"),
    "CRC32": crc.stdout.trim(),
  };
}

/** Write `bytes` to a fresh temporary file; returns its path and a remover. */
export async function localFile(bytes: Uint8Array): Promise<{ path: string } & AsyncDisposable> {
  const folder = await Deno.makeTempDir({ prefix: "exftp-hash-" });
  const path = join(folder, "local.bin");
  await Deno.writeFile(path, bytes);
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(folder, { recursive: true }),
  };
}

/** Run a Python ftplib script (`PORT`, `LOCAL` and a logged-in `ftp` given); returns its JSON `out`. */
export async function ftplib(
  port: number,
  local: string,
  body: string,
): Promise<Record<string, string>> {
  const script = `
import ftplib, json, sys
PORT = int(sys.argv[1]); LOCAL = sys.argv[2]; out = {}
ftp = ftplib.FTP(); ftp.connect("127.0.0.1", PORT, timeout=30); ftp.login("test", "secret")
def reply(line):
    try: return ftp.sendcmd(line)
    except ftplib.all_errors as e: return str(e)
${body}
ftp.quit()
print(json.dumps(out))
`;
  const result = await run("python3", ["-c", script, String(port), local], { timeoutMs: 60_000 });
  if (!result.success) throw new Error(`python failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
