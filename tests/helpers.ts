/** Shared fixtures for the tests: a server on port 0 over a temporary folder. */

import {
  FileStorage,
  type FtpServerOptions,
  PassthroughAuthenticator,
  silentLogger,
} from "../mod.ts";
import { FtpServer } from "../src/server.ts";
import type { NetAddress } from "../src/data/connection.ts";
import { RawFtpClient } from "../src/testing/raw_client.ts";

/** A running test server and its root folder, removed on dispose. */
export interface TestServer extends AsyncDisposable {
  server: FtpServer;
  root: string;
  addr: NetAddress;
  /** A logged-in raw client. */
  client(user?: string): Promise<RawFtpClient>;
}

/**
 * Start a server on port 0 over a fresh temporary folder, letting any user in
 * (`PassthroughAuthenticator`) unless `options` name another authenticator.
 */
export async function startServer(options: Partial<FtpServerOptions> = {}): Promise<TestServer> {
  const root = await Deno.makeTempDir({ prefix: "exftp-test-" });
  const server = new FtpServer({
    port: 0,
    minPassivePort: 0,
    maxPassivePort: 0,
    loginFailureDelayMs: 0,
    banAfterFailures: 0, // tests log in badly on purpose; the ban has its own test
    logger: silentLogger,
    authenticator: new PassthroughAuthenticator(),
    storage: new FileStorage({ root }),
    ...options,
  });
  const addr = await server.listen();
  const clients: RawFtpClient[] = [];
  return {
    server,
    root,
    addr,
    async client(user = "test") {
      const client = await RawFtpClient.connect(addr);
      clients.push(client);
      await client.login(user, "secret");
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.close();
      await server.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Random bytes of a given length (crypto.getRandomValues caps at 64 KiB a call). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65536, length)));
  }
  return bytes;
}

/** SHA-256 hex of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Poll `condition` until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Whether an external client binary exists. Under CI=true a missing client is
 * an error (CI installs them); elsewhere the test is ignored with a reason.
 */
export function hasCommand(name: string): boolean {
  const found = new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .outputSync().success;
  if (!found && Deno.env.get("CI") === "true") {
    throw new Error(`${name} is required under CI=true (.ci/run installs it)`);
  }
  if (!found) console.warn(`ignored: ${name} is not installed`);
  return found;
}
