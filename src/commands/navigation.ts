/**
 * The current folder: PWD, CWD, CDUP (and their X-aliases in the table).
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { parentPath } from "../paths.ts";
import { quotePath, Reply } from "../replies.ts";
import type { CommandContext, CommandSpec } from "./context.ts";

async function changeDirectory(context: CommandContext, target: string): Promise<void> {
  const info = await context.storage.stat(target);
  if (info.type !== "directory") {
    throw new FtpError(Reply.FileUnavailable, `Not a folder: ${quotePath(target)}`);
  }
  context.state.cwd = target;
  await context.reply(Reply.FileActionOk, `Folder changed to ${quotePath(target)}`);
}

/** PWD, CWD, CDUP. */
export const navigationCommands: Record<string, CommandSpec> = {
  PWD: {
    syntax: "PWD",
    help: "Print the current folder",
    needsLogin: true,
    argument: "none",
    async handle(context) {
      await context.reply(
        Reply.PathCreated,
        `${quotePath(context.state.cwd)} is the current directory`,
      );
    },
  },
  CWD: {
    syntax: "CWD <path>",
    help: "Change the current folder",
    needsLogin: true,
    argument: "required",
    feature: () => "TVFS",
    handle: (context, argument) => changeDirectory(context, context.resolvePath(argument)),
  },
  CDUP: {
    syntax: "CDUP",
    help: "Change to the parent folder",
    needsLogin: true,
    argument: "none",
    handle: (context) => changeDirectory(context, parentPath(context.state.cwd)),
  },
};
