/**
 * The current folder: PWD, CWD, CDUP (and their X-aliases in the table).
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { parentPath } from "../paths.ts";
import { quotePath } from "../replies.ts";
import type { Session } from "../session.ts";
import type { CommandSpec } from "./types.ts";

async function changeDirectory(session: Session, target: string): Promise<void> {
  const info = await session.files.stat(target);
  if (info.type !== "directory") throw new FtpError(550, `Not a folder: ${quotePath(target)}`);
  session.cwd = target;
  await session.reply(250, `Folder changed to ${quotePath(target)}`);
}

/** PWD, CWD, CDUP. */
export const navigationCommands: Record<string, CommandSpec> = {
  PWD: {
    syntax: "PWD",
    help: "Print the current folder",
    needsLogin: true,
    argument: "none",
    async handle(session) {
      await session.reply(257, `${quotePath(session.cwd)} is the current directory`);
    },
  },
  CWD: {
    syntax: "CWD <path>",
    help: "Change the current folder",
    needsLogin: true,
    argument: "required",
    feature: () => "TVFS",
    handle: (session, argument) => changeDirectory(session, session.resolvePath(argument)),
  },
  CDUP: {
    syntax: "CDUP",
    help: "Change to the parent folder",
    needsLogin: true,
    argument: "none",
    handle: (session) => changeDirectory(session, parentPath(session.cwd)),
  },
};
