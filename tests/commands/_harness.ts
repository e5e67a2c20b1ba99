/**
 * The in-process harness over a temporary folder: the command tests' twin of
 * `startServer` (tests/helpers.ts) for tests that need no socket.
 */

import { FileStorage, type FtpServerOptions, type FtpUser } from "../../mod.ts";
import { type CommandHarness, commandHarness } from "../../src/testing/harness.ts";

/** Sessions over one temporary folder, all closed (and the folder removed) on dispose. */
export interface FolderHarness extends AsyncDisposable {
  /** The folder the file connector serves. */
  root: string;
  /** A new session logged in as `user` (`null`: not logged in). */
  session(user?: string | FtpUser | null): CommandHarness;
}

/** Sessions over a fresh temporary folder, with `startServer`'s defaults and `options`. */
export async function folderHarness(
  options: Partial<FtpServerOptions> = {},
): Promise<FolderHarness> {
  const root = await Deno.makeTempDir({ prefix: "exftp-harness-" });
  const { storage = new FileStorage({ root }), authenticator, ...rest } = options;
  const sessions: CommandHarness[] = [];
  return {
    root,
    session(user = "test") {
      const harness = commandHarness({
        storage,
        authenticator,
        user: user ?? undefined,
        options: rest,
      });
      sessions.push(harness);
      return harness;
    },
    async [Symbol.asyncDispose]() {
      for (const session of sessions) await session.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}
