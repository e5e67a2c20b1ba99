/**
 * Commands on files and folders that need no data connection: MKD, RMD,
 * DELE, RNFR, RNTO, SIZE, MDTM.
 *
 * @module
 */

import { FtpError, replyForError, StorageError } from "../errors.ts";
import { ftpTimestamp } from "../listing/format.ts";
import { quotePath, Reply } from "../replies.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { onPath } from "./permission_rules.ts";

/**
 * Log a refused file operation with its reason: at warn for a permission
 * refusal (a read-only account, a path outside the root), at info otherwise
 * (a missing file is the client's business). Unexpected errors are logged at
 * error level by the session.
 */
export function logRefusal(
  context: CommandContext,
  command: string,
  error: unknown,
  fields: Record<string, unknown>,
): void {
  if (!(error instanceof FtpError) && !(error instanceof StorageError)) return;
  const { code, text } = replyForError(error);
  const denied = error instanceof StorageError ? error.kind === "permission_denied" : false;
  context.log(denied ? "warn" : "info", `${command} refused`, {
    ...fields,
    reply: code,
    reason: text,
  });
}

/** Run a storage operation, log it, and record it as an event, success or failure. */
async function recorded(
  context: CommandContext,
  kind: "delete" | "rename" | "mkdir",
  command: string,
  fields: { path: string; from?: string },
  action: () => Promise<void>,
): Promise<void> {
  try {
    await action();
  } catch (error) {
    logRefusal(context, command, error, fields);
    await context.recordOperation(kind, command, fields.path, error, fields.from);
    throw error;
  }
  context.log("info", `${command} ok`, fields);
  // The event is in the outbox before the reply (see recordOperation).
  await context.recordOperation(kind, command, fields.path, undefined, fields.from);
}

/** Run a storage operation that is not an event (RNFR), logging a refusal. */
async function logged<T>(
  context: CommandContext,
  command: string,
  path: string,
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    logRefusal(context, command, error, { path });
    throw error;
  }
}

/** MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM. */
export const fileCommands: Record<string, CommandSpec> = {
  MKD: {
    syntax: "MKD <path>",
    help: "Make a folder",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: onPath("mkdir"),
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      await recorded(context, "mkdir", "MKD", { path }, () => {
        if (path === "/") {
          throw new FtpError(Reply.FileUnavailable, "The root folder already exists");
        }
        return context.storage.mkdir(path);
      });
      await context.reply(Reply.PathCreated, `${quotePath(path)} created`);
    },
  },
  RMD: {
    syntax: "RMD <path>",
    help: "Remove an empty folder",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: onPath("rmdir"),
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      await recorded(context, "delete", "RMD", { path }, () => {
        if (
          path === "/" || context.state.cwd === path || context.state.cwd.startsWith(path + "/")
        ) {
          throw new FtpError(
            Reply.FileUnavailable,
            `Can't remove ${quotePath(path)}: it is the current folder or above it`,
          );
        }
        return context.storage.rmdir(path);
      });
      await context.reply(Reply.FileActionOk, `Folder ${quotePath(path)} removed`);
    },
  },
  DELE: {
    syntax: "DELE <path>",
    help: "Delete a file",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: onPath("delete"),
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      await recorded(context, "delete", "DELE", { path }, () => context.storage.remove(path));
      await context.reply(Reply.FileActionOk, `File ${quotePath(path)} deleted`);
    },
  },
  RNFR: {
    syntax: "RNFR <path>",
    help: "Name the file or folder to rename (RNTO follows)",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: onPath("rename"),
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      await logged(context, "RNFR", path, async () => {
        if (path === "/") {
          throw new FtpError(Reply.FileUnavailable, "The root folder can't be renamed");
        }
        await context.storage.stat(path);
      });
      context.state.renameFrom = path;
      await context.reply(Reply.PendingFurtherInformation, "Ready for RNTO");
    },
  },
  RNTO: {
    syntax: "RNTO <path>",
    help: "Rename the file or folder named by RNFR",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    keepsRenameFrom: true,
    // Both sides: the source was checked by RNFR, but the policy may differ at the target.
    permission: {
      actions: ["rename"],
      checks(context, argument) {
        const from = context.state.renameFrom;
        if (from === undefined) return []; // 503 from the handler
        return [{ action: "rename", path: from }, {
          action: "rename",
          path: context.resolvePath(argument),
        }];
      },
    },
    async handle(context, argument) {
      const from = context.state.renameFrom;
      context.state.renameFrom = undefined;
      if (from === undefined) throw new FtpError(Reply.BadSequence, "Send RNFR first");
      const to = context.resolvePath(argument);
      await recorded(context, "rename", "RNTO", { from, path: to }, () => {
        if (to === from) {
          throw new FtpError(Reply.FileNameNotAllowed, "Source and target are the same");
        }
        if (to.startsWith(from + "/")) {
          throw new FtpError(Reply.FileNameNotAllowed, "Can't move a folder into itself");
        }
        return context.storage.rename(from, to);
      });
      await context.reply(Reply.FileActionOk, `Renamed to ${quotePath(to)}`);
    },
  },
  SIZE: {
    syntax: "SIZE <path>",
    help: "Size of a file in bytes, as stored",
    needsLogin: true,
    argument: "required",
    permission: onPath("list"),
    feature: () => "SIZE",
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      const info = await context.storage.stat(path);
      if (info.type !== "file") {
        throw new FtpError(Reply.FileUnavailable, `Not a regular file: ${quotePath(path)}`);
      }
      await context.reply(Reply.FileStatus, String(info.size));
    },
  },
  MDTM: {
    syntax: "MDTM <path>",
    help: "Modification time of a file (UTC)",
    needsLogin: true,
    argument: "required",
    permission: onPath("list"),
    feature: () => "MDTM",
    async handle(context, argument) {
      const path = context.resolvePath(argument);
      const info = await context.storage.stat(path);
      if (info.type !== "file") {
        throw new FtpError(Reply.FileUnavailable, `Not a regular file: ${quotePath(path)}`);
      }
      if (!info.mtime) throw new StorageError("not_found", "Modification time unknown");
      await context.reply(Reply.FileStatus, ftpTimestamp(info.mtime));
    },
  },
};
