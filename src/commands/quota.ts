/**
 * Where a user stands against their quota: AVBL
 * (draft-peterson-streamlined-ftp-command-extensions) and the lines of
 * SITE QUOTA.
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { quotaAccountOf } from "../policy/limits.ts";
import { quotaLimitsOf } from "../policy/quota.ts";
import { quotePath, Reply } from "../replies.ts";
import type { CommandContext, CommandSpec } from "./context.ts";

/** Whether a byte quota applies to the session's user (AVBL has a number to give). */
function hasByteQuota(context: CommandContext): boolean {
  return context.user !== undefined && quotaLimitsOf(context.user)?.quotaBytes !== undefined;
}

/** The lines SITE QUOTA sends (the first and last are the reply's frame). */
export async function quotaReport(context: CommandContext): Promise<string[]> {
  const account = quotaAccountOf(context.options, context.user);
  if (!account) return ["No quota applies to this account"];
  const { quotaBytes, quotaFiles, maxUploadBytes } = account.limits;
  const usage = await account.usage();
  const of = (limit: number | undefined) => limit === undefined ? "(no limit)" : `of ${limit}`;
  const lines = [
    `Quota of ${context.user!.username}:`,
    ` Bytes used: ${usage.bytes} ${of(quotaBytes)}` +
    (quotaBytes === undefined ? "" : ` (${Math.max(0, quotaBytes - usage.bytes)} available)`),
    ` Files used: ${usage.files} ${of(quotaFiles)}`,
  ];
  if (maxUploadBytes !== undefined) lines.push(` Largest upload: ${maxUploadBytes} bytes`);
  lines.push("End");
  return lines;
}

/** AVBL. */
export const quotaCommands: Record<string, CommandSpec> = {
  AVBL: {
    syntax: "AVBL [path]",
    help: "Bytes you may still store (your quota)",
    needsLogin: true,
    argument: "optional",
    feature: (context) => hasByteQuota(context) ? "AVBL" : undefined,
    available: (context) => context.user === undefined || hasByteQuota(context),
    async handle(context, argument) {
      const path = context.resolvePath(argument.trim() || ".");
      const info = await context.storage.stat(path);
      if (info.type !== "directory") {
        throw new FtpError(Reply.FileUnavailable, `Not a folder: ${quotePath(path)}`);
      }
      const available = await quotaAccountOf(context.options, context.user)?.available();
      if (available === undefined) {
        throw new FtpError(Reply.NotImplemented, "No quota applies to this account");
      }
      await context.reply(Reply.FileStatus, String(available));
    },
  },
};
