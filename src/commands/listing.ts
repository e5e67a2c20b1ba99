/**
 * Folder listings: LIST, NLST (data connection) and STAT with a path (control
 * connection).
 *
 * @module
 */

import { LineBatcher } from "../data/streams.ts";
import { formatListLine, safeName } from "../listing/format.ts";
import type { FileInfo } from "../storage/types.ts";
import type { CommandContext, CommandSpec, PermissionRule } from "./context.ts";
import { Reply } from "../replies.ts";

/**
 * `-la /path` → flags and the rest. Only leading `-x` tokens are flags (with
 * the spaces after them); the path is the rest exactly as sent: a name's
 * leading and trailing spaces are its own, as for CWD, MLSD and RETR. An
 * argument of spaces only is no argument.
 */
export function parseListArguments(argument: string): { flags: Set<string>; path: string } {
  const flags = new Set<string>();
  if (argument.trim() === "") return { flags, path: "" };
  let rest = argument;
  while (true) {
    const match = /^-([a-zA-Z0-9]+)(?:\s+|$)/.exec(rest);
    if (!match) break;
    for (const letter of match[1]) flags.add(letter);
    rest = rest.slice(match[0].length);
  }
  return { flags, path: rest.trim() === "" ? "" : rest };
}

interface ListingPlan {
  path: string;
  /** The entry itself when the argument names a file. */
  file?: FileInfo;
  showHidden: boolean;
  /** Prefix for NLST names (the argument as given). */
  prefix: string;
}

async function planListing(
  context: CommandContext,
  argument: string,
): Promise<ListingPlan & { long: boolean }> {
  const { flags, path: given } = parseListArguments(argument);
  const path = context.resolvePath(given || ".");
  const info = await context.storage.stat(path);
  return {
    path,
    file: info.type === "file" ? info : undefined,
    showHidden: flags.has("a") || flags.has("A"),
    long: flags.has("l"),
    prefix: given === "" || info.type === "file" ? "" : given.replace(/\/+$/, "") + "/",
  };
}

/** The entries a listing shows, streamed. */
async function* entries(context: CommandContext, plan: ListingPlan): AsyncIterable<FileInfo> {
  if (plan.file) {
    yield plan.file;
    return;
  }
  for await (const entry of context.storage.list(plan.path)) {
    if (!plan.showHidden && entry.name.startsWith(".")) continue;
    yield entry;
  }
}

async function list(context: CommandContext, argument: string, command: "LIST" | "NLST") {
  const plan = await planListing(context, argument);
  const long = command === "LIST" || plan.long;
  const now = new Date();
  await context.startTransfer({
    command,
    kind: "listing",
    path: plan.path,
    openingText: `Opening ASCII mode data connection for file list`,
    async run(connection, signal, progress) {
      const batch = new LineBatcher(connection, progress);
      if (plan.file) {
        await batch.add(
          long ? formatListLine(plan.file, now) : safeName(argumentPath(argument)),
        );
      } else {
        // The storage's iterator directly, not through entries(): one async
        // hop per entry instead of two (1,000 entries, 100 listings at once).
        for await (const entry of context.storage.list(plan.path)) {
          signal.throwIfAborted();
          if (!plan.showHidden && entry.name.startsWith(".")) continue;
          await batch.add(long ? formatListLine(entry, now) : safeName(plan.prefix + entry.name));
        }
      }
      await batch.flush();
      return progress.bytes;
    },
  });
}

function argumentPath(argument: string): string {
  return parseListArguments(argument).path;
}

/** Listing needs `list` on the folder (or file) listed. */
const LISTING_RULE: PermissionRule = {
  actions: ["list"],
  checks: (context, argument) => [{
    action: "list",
    path: context.resolvePath(parseListArguments(argument).path || "."),
  }],
};

/** LIST and NLST. */
export const listingCommands: Record<string, CommandSpec> = {
  LIST: {
    syntax: "LIST [-a] [-l] [path]",
    help: "List a folder or file in ls -l style",
    needsLogin: true,
    argument: "optional",
    permission: LISTING_RULE,
    handle: (context, argument) => list(context, argument, "LIST"),
  },
  NLST: {
    syntax: "NLST [-a] [-l] [path]",
    help: "List names only (prefixed with the folder argument as given)",
    needsLogin: true,
    argument: "optional",
    permission: LISTING_RULE,
    handle: (context, argument) => list(context, argument, "NLST"),
  },
  STAT: {
    syntax: "STAT [path]",
    help: "Server status, transfer progress, or a listing over the control connection",
    needsLogin: true,
    argument: "optional",
    duringTransfer: true,
    // With a path (and no transfer running), STAT is a listing.
    permission: {
      actions: ["list"],
      checks: (context, argument) =>
        context.transferProgress || argument.trim() === ""
          ? []
          : LISTING_RULE.checks(context, argument),
    },
    async handle(context, argument) {
      const running = context.transferProgress;
      if (running) {
        const { request, progress } = running;
        const seconds = Math.max((Date.now() - progress.startedAt) / 1000, 0.001);
        await context.reply(Reply.FileStatus, [
          "Status of the running transfer:",
          ` ${request.command} ${safeName(request.path)}`,
          ` ${progress.bytes} bytes in ${seconds.toFixed(1)} s`,
          "End of status",
        ]);
        return;
      }
      if (argument.trim() === "") {
        await context.reply(Reply.SystemStatus, [
          `${context.options.serverName} FTP server status:`,
          ` Connected from ${context.remote.hostname}`,
          context.user ? ` Logged in as ${safeName(context.user.username)}` : " Not logged in",
          ` TYPE: ${
            context.state.transferType === "A" ? "ASCII" : "BINARY"
          }, MODE: Stream, STRU: File`,
          "End of status",
        ]);
        return;
      }
      const plan = await planListing(context, argument);
      const now = new Date();
      const lines = ["Status of " + safeName(plan.path) + ":"];
      for await (const entry of entries(context, plan)) {
        lines.push(" " + formatListLine(entry, now));
      }
      lines.push("End of status");
      await context.reply(Reply.FileStatus, lines);
    },
  },
};
