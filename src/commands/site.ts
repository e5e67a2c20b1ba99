/**
 * SITE and its sub-commands (a small table of its own).
 *
 * @module
 */

import { asciiUpperCase } from "../control/ascii.ts";
import { FtpError } from "../errors.ts";
import { logRefusal } from "./files.ts";
import type { CommandContext, CommandSpec, PermissionRule } from "./context.ts";
import { requirePermissions } from "./dispatch.ts";
import { quotaReport } from "./quota.ts";
import { Reply } from "../replies.ts";

interface SiteCommand {
  syntax: string;
  changesStorage?: boolean;
  /** What the user must be allowed, where (550 otherwise), as in the main table. */
  permission?: PermissionRule;
  available?: (context: CommandContext) => boolean;
  handle(context: CommandContext, argument: string): Promise<void>;
}

const SITE_COMMANDS: Record<string, SiteCommand> = {
  HELP: {
    syntax: "SITE HELP",
    async handle(context) {
      const usable = Object.values(SITE_COMMANDS).filter((c) => c.available?.(context) ?? true);
      await context.reply(Reply.Help, [
        "SITE commands:",
        ...usable.map((c) => ` ${c.syntax}`),
        "End",
      ]);
    },
  },
  CHMOD: {
    syntax: "SITE CHMOD <octal mode> <path>",
    changesStorage: true,
    permission: {
      actions: ["chmod"],
      checks(context, argument) {
        const match = /^0?[0-7]{1,3}\s+(.+)$/.exec(argument);
        return match ? [{ action: "chmod", path: context.resolvePath(match[1]) }] : [];
      },
    },
    available: (context) => context.storageCan("chmod"),
    async handle(context, argument) {
      const match = /^0?([0-7]{1,3})\s+(.+)$/.exec(argument);
      if (!match) {
        throw new FtpError(
          Reply.SyntaxErrorInArguments,
          "Syntax: SITE CHMOD <octal mode up to 0777> <path>",
        );
      }
      const path = context.resolvePath(match[2]);
      const mode = match[1].padStart(3, "0");
      // Like RMD, RNFR and DELE of "/": the root (a user's home) is not the client's to change.
      if (path === "/") {
        context.log("warn", "SITE CHMOD refused", { path, mode, reason: "the root folder" });
        throw new FtpError(
          Reply.FileUnavailable,
          "Permission denied: the root folder's mode can't be changed",
        );
      }
      try {
        await context.storage.chmod!(path, parseInt(match[1], 8));
      } catch (error) {
        logRefusal(context, "SITE CHMOD", error, { path, mode });
        throw error;
      }
      context.log("info", "SITE CHMOD ok", { path, mode });
      await context.reply(Reply.Ok, "SITE CHMOD command successful");
    },
  },
  QUOTA: {
    syntax: "SITE QUOTA",
    async handle(context) {
      await context.reply(Reply.Ok, await quotaReport(context));
    },
  },
};

/** SITE. */
export const siteCommands: Record<string, CommandSpec> = {
  SITE: {
    syntax: "SITE <command> [arguments]",
    help: "Server-specific commands (SITE HELP lists them)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      const space = argument.indexOf(" ");
      const name = asciiUpperCase(space < 0 ? argument : argument.slice(0, space));
      const rest = space < 0 ? "" : argument.slice(space + 1);
      const command = Object.hasOwn(SITE_COMMANDS, name) ? SITE_COMMANDS[name] : undefined;
      if (!command) {
        throw new FtpError(
          Reply.NotImplementedForParameter,
          `SITE ${name.slice(0, 16)} is not supported (see SITE HELP)`,
        );
      }
      // Known but not offered by this storage (SITE CHMOD on S3): 502, like MFMT.
      if (!(command.available?.(context) ?? true)) {
        throw new FtpError(Reply.NotImplemented, `SITE ${name} is not available here`);
      }
      if (command.changesStorage && context.user?.readOnly) {
        throw new FtpError(Reply.FileUnavailable, "Permission denied: this account is read-only");
      }
      if (command.permission) {
        await requirePermissions(context, `SITE ${name}`, command.permission, rest);
      }
      await command.handle(context, rest);
    },
  },
};
