/**
 * Test helpers for people who build on exftp: a raw control client to assert
 * exact replies against a running server. (The connector conformance suite
 * lands here too.)
 *
 * @example
 * ```ts ignore
 * import { FtpServer, silentLogger } from "@exftp/server";
 * import { RawFtpClient } from "@exftp/server/testing";
 *
 * await using server = new FtpServer({ port: 0, logger: silentLogger });
 * using client = await RawFtpClient.connect(await server.listen());
 * await client.login("me", "pw");
 * ```
 *
 * @module
 */

export { type FtpReply, RawFtpClient } from "./raw_client.ts";
