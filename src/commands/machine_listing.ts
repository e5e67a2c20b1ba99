/**
 * Machine-readable listings (RFC 3659): MLSD, MLST, and the OPTS MLST fact
 * selection; MFMT to set modification times.
 *
 * @module
 */

import { LineBatcher } from "../data/streams.ts";
import { FtpError } from "../errors.ts";
import { formatMlstEntry, ftpTimestamp, MLST_FACTS, type MlstFact } from "../listing/format.ts";
import { quotePath, Reply } from "../replies.ts";
import type { FileInfo } from "../storage/types.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { onPath } from "./permission_rules.ts";
import { permFact } from "../policy/permissions.ts";
import { joinPath } from "../paths.ts";

/** The `perm` fact: what this user may do with the entry at `path` (its policy decides). */
export function permissionFacts(context: CommandContext, info: FileInfo, path: string): string {
  return permFact(context.user, path, info.type);
}

/** The FEAT line: every fact, the active ones marked with `*`. */
function mlstFeature(context: CommandContext): string {
  return "MLST " +
    MLST_FACTS.map((f) => `${f}${context.state.mlstFacts.has(f) ? "*" : ""};`).join("");
}

/** Apply `OPTS MLST f1;f2;` and answer as RFC 3659 §7.9 says. */
export async function selectMlstFacts(context: CommandContext, list: string): Promise<void> {
  const wanted = list.split(";").map((f) => f.trim().toLowerCase()).filter(Boolean);
  const known = MLST_FACTS.filter((f) => wanted.includes(f));
  context.state.mlstFacts = new Set<MlstFact>(known);
  // RFC 3659 §7.9: "200 MLST OPTS" and the facts, none (and no trailing space) if none.
  const facts = known.map((f) => `${f};`).join("");
  await context.reply(Reply.Ok, facts === "" ? "MLST OPTS" : `MLST OPTS ${facts}`);
}

const MFMT_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/;

/** MLSD, MLST, MFMT. */
export const machineListingCommands: Record<string, CommandSpec> = {
  MLSD: {
    syntax: "MLSD [path]",
    help: "List a folder in RFC 3659 machine format",
    needsLogin: true,
    argument: "optional",
    permission: onPath("list"),
    async handle(context, argument) {
      const path = context.resolvePath(argument || ".");
      const info = await context.storage.stat(path);
      if (info.type !== "directory") {
        throw new FtpError(Reply.SyntaxErrorInArguments, `Not a folder: ${quotePath(path)}`);
      }
      const facts = context.state.mlstFacts;
      await context.startTransfer({
        command: "MLSD",
        kind: "listing",
        path,
        openingText: "Opening ASCII mode data connection for MLSD",
        async run(connection, signal, progress) {
          const batch = new LineBatcher(connection, progress);
          for await (const entry of context.storage.list(path)) {
            signal.throwIfAborted();
            await batch.add(
              formatMlstEntry(
                entry,
                facts,
                permissionFacts(context, entry, joinPath(path, entry.name)),
              ),
            );
          }
          await batch.flush();
          return progress.bytes;
        },
      });
    },
  },
  MLST: {
    syntax: "MLST [path]",
    help: "Facts about one file or folder, over the control connection",
    needsLogin: true,
    argument: "optional",
    permission: onPath("list"),
    feature: mlstFeature,
    async handle(context, argument) {
      const path = context.resolvePath(argument || ".");
      const info = await context.storage.stat(path);
      const entry = formatMlstEntry(
        info,
        context.state.mlstFacts,
        permissionFacts(context, info, path),
        path,
      );
      await context.reply(Reply.FileActionOk, [`Listing ${quotePath(path)}`, ` ${entry}`, "End"]);
    },
  },
  MFMT: {
    syntax: "MFMT YYYYMMDDHHMMSS <path>",
    help: "Set a file's modification time (UTC)",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    // Clients set the time right after uploading: part of the upload, not a new permission.
    permission: {
      actions: ["upload"],
      checks(context, argument) {
        const space = argument.indexOf(" ");
        if (space < 0 || argument.slice(space + 1) === "") return [];
        return [{ action: "upload", path: context.resolvePath(argument.slice(space + 1)) }];
      },
    },
    available: (context) => context.storageCan("setModifiedTime"),
    feature: () => "MFMT",
    async handle(context, argument) {
      const space = argument.indexOf(" ");
      const stamp = space < 0 ? "" : argument.slice(0, space);
      const match = MFMT_TIME.exec(stamp);
      if (!match || space < 0 || argument.slice(space + 1) === "") {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: MFMT YYYYMMDDHHMMSS <path>");
      }
      const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
      const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
      if (ftpTimestamp(time) !== stamp) {
        throw new FtpError(Reply.SyntaxErrorInArguments, `Not a valid time: ${stamp}`);
      }
      const path = context.resolvePath(argument.slice(space + 1));
      const info = await context.storage.stat(path);
      if (info.type !== "file") {
        throw new FtpError(Reply.FileUnavailable, `Not a regular file: ${quotePath(path)}`);
      }
      await context.storage.setModifiedTime!(path, time);
      await context.reply(Reply.FileStatus, `Modify=${stamp}; ${path}`);
    },
  },
};
