/**
 * Test helpers for people who build on exftp:
 *
 * - {@linkcode runConformance} / {@linkcode testConformance}: the suite every
 *   built-in storage connector passes (file, memory, s3) — run it against your
 *   own `StorageConnector`;
 * - {@linkcode faultyStorage}: wrap any connector so that streams fail after N
 *   bytes, hang or crawl, and operations fail with a chosen error;
 * - {@linkcode RawFtpClient}: a raw control client to assert exact replies;
 * - {@linkcode commandHarness}: run commands against a connector in-process,
 *   without sockets (LIST, RETR and STOR included).
 *
 * @example Run the conformance suite against a custom connector
 * ```ts ignore
 * // my_storage_test.ts — run with `deno test -A my_storage_test.ts`
 * import { runConformance } from "@exftp/server/testing";
 * import { MyStorage } from "./my_storage.ts";
 *
 * runConformance("MyStorage passes the conformance suite", async () => {
 *   const root = await Deno.makeTempDir();
 *   return {
 *     connector: new MyStorage(root), // must start empty
 *     cleanup: () => Deno.remove(root, { recursive: true }),
 *   };
 * });
 * ```
 *
 * @example Assert exact replies
 * ```ts
 * import { FtpServer, MemoryStorage, PassthroughAuthenticator, silentLogger } from "@exftp/server";
 * import { RawFtpClient } from "@exftp/server/testing";
 *
 * await using server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage: new MemoryStorage(),
 *   logger: silentLogger,
 * });
 * using client = await RawFtpClient.connect(await server.listen());
 * await client.login("me", "pw");
 * console.assert((await client.send("PWD")).code === 257);
 * ```
 *
 * @module
 */

export {
  type ConformanceOptions,
  conformanceStepNames,
  type ConformanceSubject,
  type MakeConnector,
  runConformance,
  testConformance,
} from "./conformance.ts";
export { type FaultableOperation, type FaultOptions, faultyStorage } from "./faulty.ts";
export { type FtpReply, RawFtpClient } from "./raw_client.ts";
export {
  type CommandHarness,
  commandHarness,
  type CommandHarnessOptions,
  type HarnessEvent,
  type HarnessReply,
} from "./harness.ts";
