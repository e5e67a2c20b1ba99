/**
 * The one fixed order every command line passes through, as in pyftpdlib:
 * 500 unknown → 530 not logged in → 421 login no longer valid → 501 bad
 * argument → 502 unavailable here → 550 read-only → 550 permission (the
 * command's {@linkcode PermissionRule} against the user's policy) → the
 * handler, whose errors become replies.
 *
 * @module
 */

import { asciiUpperCase } from "../control/ascii.ts";
import { isConnectionError } from "../data/connection.ts";
import { FtpError, replyForError, StorageError } from "../errors.ts";
import { hasRestrictions, type PermissionCheck, refusal } from "../policy/permissions.ts";
import { quotePath, Reply, sanitizeReplyText } from "../replies.ts";
import type { CommandContext, CommandSpec, PermissionRule } from "./context.ts";

/** A command line split into its verb and argument. */
export interface CommandLine {
  /** The verb in ASCII upper case (`stor` → `STOR`; `ſtor` stays unknown). */
  verb: string;
  /** The rest after the first space, exactly as sent (a name's spaces are its own). */
  argument: string;
}

/** Split a line into an ASCII upper-case verb and the rest, kept as it is. */
export function parseCommandLine(
  text: string,
  commands: ReadonlyMap<string, CommandSpec>,
): CommandLine {
  const space = text.indexOf(" ");
  let verb = asciiUpperCase(space < 0 ? text : text.slice(0, space));
  const argument = space < 0 ? "" : text.slice(space + 1);
  if (!commands.has(verb)) {
    // Telnet "interrupt" bytes that survive as junk before ABOR/STAT/QUIT (pyftpdlib does the same).
    const tail = verb.slice(-4);
    if (tail === "ABOR" || tail === "STAT" || tail === "QUIT") verb = tail;
  }
  return { verb, argument };
}

/**
 * Run one command through the checks and its handler. `stillAuthorized` asks
 * whether the logged-in user is still valid; when not, it has answered (421)
 * and closed the session itself. A failure of the control connection is
 * rethrown (no reply can be sent); every other error becomes a reply.
 */
export async function dispatchCommand(
  context: CommandContext,
  { verb, argument }: CommandLine,
  spec: CommandSpec | undefined,
  stillAuthorized: () => Promise<boolean>,
): Promise<void> {
  // Any command but RNTO (even a refused one) ends a pending RNFR.
  if (!spec?.keepsRenameFrom) context.state.renameFrom = undefined;
  if (!spec) {
    const shown = sanitizeReplyText(verb).slice(0, 32);
    await context.reply(Reply.SyntaxError, verb ? `Unknown command "${shown}"` : "Empty command");
    return;
  }
  if (spec.needsLogin && !context.user) {
    await context.reply(Reply.NotLoggedIn, "Please log in with USER and PASS first");
    return;
  }
  if (spec.needsLogin && !(await stillAuthorized())) return;
  if (spec.argument === "required" && argument.trim() === "") {
    await context.reply(Reply.SyntaxErrorInArguments, `Syntax: ${spec.syntax}`);
    return;
  }
  if (spec.argument === "none" && argument.trim() !== "") {
    await context.reply(Reply.SyntaxErrorInArguments, `${verb} takes no argument`);
    return;
  }
  if (spec.available && !spec.available(context)) {
    await context.reply(Reply.NotImplemented, `${verb} is not available here`);
    return;
  }
  if (spec.changesStorage && context.user?.readOnly) {
    await context.reply(Reply.FileUnavailable, "Permission denied: this account is read-only");
    return;
  }
  try {
    if (spec.permission) await requirePermissions(context, verb, spec.permission, argument);
    await spec.handle(context, argument);
  } catch (error) {
    // The control connection itself failed: no reply can be sent, the session ends.
    if (isConnectionError(error)) throw error;
    const { code, text } = replyForError(error);
    if (!(error instanceof FtpError) && !(error instanceof StorageError)) {
      context.log("error", `${verb} failed`, { error: String(error) });
    }
    await context.reply(code, text);
  }
}

/**
 * The pipeline's permission step (also used by SITE's sub-commands): throws
 * a 550 naming what is missing where, and logs the refusal, when the user's
 * policy refuses any of the rule's checks for this argument.
 */
export async function requirePermissions(
  context: CommandContext,
  command: string,
  rule: PermissionRule,
  argument: string,
): Promise<void> {
  const user = context.user;
  // Most users have no policy: nothing to resolve or ask per command.
  if (!user || !hasRestrictions(user)) return;
  for (const check of await rule.checks(context, argument)) {
    const refused = refusal(user, check.action, check.path);
    if (!refused) continue;
    const text = refusalText(check, refused);
    context.log("warn", `${command} refused`, {
      path: check.path,
      reply: Reply.FileUnavailable,
      reason: text,
    });
    throw new FtpError(Reply.FileUnavailable, text);
  }
}

function refusalText(check: PermissionCheck, refused: ReturnType<typeof refusal>): string {
  switch (refused!.reason) {
    case "read-only account":
      return "Permission denied: this account is read-only";
    case "read-only folder":
      return `Permission denied: ${quotePath(refused!.folder)} is read-only`;
    default:
      return `Permission denied: no ${check.action} permission for ${quotePath(check.path)}`;
  }
}
