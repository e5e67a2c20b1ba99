/**
 * Information and negotiation: SYST, FEAT, OPTS, HELP, NOOP, CLNT.
 *
 * @module
 */

import { asciiUpperCase } from "../control/ascii.ts";
import { FtpError } from "../errors.ts";
import { selectHashAlgorithm } from "./hash.ts";
import { selectMlstFacts } from "./machine_listing.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { Reply } from "../replies.ts";

/** FEAT lines, generated from the command table for this session. */
export function featureLines(context: CommandContext): string[] {
  const lines = new Set<string>();
  for (const spec of new Set(context.commands.values())) {
    if (spec.available && !spec.available(context)) continue;
    const feature = spec.feature?.(context);
    for (const line of typeof feature === "string" ? [feature] : feature ?? []) lines.add(line);
  }
  return [...lines].sort();
}

/** Known verbs this server does not implement: 502, not 500 (RFC 959 §5.4). */
function notImplemented(syntax: string, help: string): CommandSpec {
  return {
    syntax,
    help,
    needsLogin: false,
    argument: "optional",
    available: () => false,
    handle() {
      throw new FtpError(Reply.NotImplemented, `${syntax.split(" ")[0]} is not implemented`);
    },
  };
}

/** SYST, FEAT, OPTS, HELP, NOOP, CLNT; REIN, ACCT, SMNT (not implemented). */
export const infoCommands: Record<string, CommandSpec> = {
  SYST: {
    syntax: "SYST",
    help: "Name the system type",
    needsLogin: false,
    argument: "none",
    async handle(context) {
      await context.reply(Reply.SystemType, "UNIX Type: L8");
    },
  },
  FEAT: {
    syntax: "FEAT",
    help: "List the extensions this server supports",
    needsLogin: false,
    argument: "none",
    async handle(context) {
      await context.reply(Reply.SystemStatus, [
        "Features:",
        ...featureLines(context).map((l) => ` ${l}`),
        "End",
      ]);
    },
  },
  OPTS: {
    syntax: "OPTS <command> [options]",
    help: "Set options of a command (OPTS UTF8 ON)",
    needsLogin: false,
    argument: "required",
    feature: () => "UTF8",
    async handle(context, argument) {
      const [name, ...rest] = argument.trim().split(/\s+/);
      const value = asciiUpperCase(rest.join(" "));
      const option = asciiUpperCase(name);
      if (option === "UTF8" || option === "UTF-8") {
        if (value !== "ON" && value !== "OFF" && value !== "") {
          throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: OPTS UTF8 ON|OFF");
        }
        // Names are always UTF-8 here; OFF changes nothing but is acknowledged.
        await context.reply(Reply.Ok, `UTF8 mode ${value === "OFF" ? "stays on" : "enabled"}`);
        return;
      }
      if (option === "MLST") {
        await selectMlstFacts(context, rest.join(" "));
        return;
      }
      if (option === "HASH") {
        await selectHashAlgorithm(context, rest.join(" "));
        return;
      }
      throw new FtpError(
        Reply.SyntaxErrorInArguments,
        `Option "${name.slice(0, 16)}" not understood`,
      );
    },
  },
  HELP: {
    syntax: "HELP [command]",
    help: "List the commands, or explain one",
    needsLogin: false,
    argument: "optional",
    async handle(context, argument) {
      const { commands } = context;
      const wanted = asciiUpperCase(argument.trim());
      if (wanted) {
        const spec = commands.get(wanted);
        if (!spec) {
          throw new FtpError(Reply.NotImplemented, `Unknown command "${wanted.slice(0, 16)}"`);
        }
        if (spec.available && !spec.available(context)) {
          throw new FtpError(Reply.NotImplemented, `${wanted} is not available here`);
        }
        // Honest about the policy: which permissions it needs (the profile's names).
        const needs = spec.permission ? `; needs ${spec.permission.actions.join(" or ")}` : "";
        await context.reply(Reply.Help, `Syntax: ${spec.syntax} (${spec.help}${needs})`);
        return;
      }
      // Only what this session can use: no AUTH/PBSZ/PROT without TLS, no MFMT
      // without the connector's capability, no known-but-unimplemented verbs.
      const names = [...commands.keys()]
        .filter((name) => commands.get(name)!.available?.(context) ?? true)
        .sort();
      const rows: string[] = [];
      for (let i = 0; i < names.length; i += 8) {
        rows.push(" " + names.slice(i, i + 8).map((n) => n.padEnd(6)).join(" ").trimEnd());
      }
      await context.reply(Reply.Help, [
        "The following commands are recognized:",
        ...rows,
        "Help OK",
      ]);
    },
  },
  REIN: notImplemented("REIN", "Reinitialize the session (not implemented: reconnect)"),
  ACCT: notImplemented("ACCT <account>", "Account information (not used here)"),
  SMNT: notImplemented("SMNT <path>", "Mount a file system structure (not implemented)"),
  NOOP: {
    syntax: "NOOP",
    help: "Do nothing",
    needsLogin: false,
    argument: "none",
    async handle(context) {
      await context.reply(Reply.Ok, "NOOP ok");
    },
  },
  HOST: {
    syntax: "HOST <name>",
    help: "Name the virtual host to use (before login)",
    needsLogin: false,
    argument: "required",
    async handle(context, argument) {
      if (context.user || context.state.pendingUsername !== undefined) {
        throw new FtpError(Reply.BadSequence, "HOST must come before USER");
      }
      const host = argument.trim();
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})$/.test(host)) {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: HOST <domain name or [address]>");
      }
      // One host only: every name selects it, so HOST is not listed in FEAT.
      context.log("debug", "HOST", { host });
      await context.reply(
        Reply.ServiceReady,
        `Host accepted; Hello from ${context.options.serverName}.`,
      );
    },
  },
  CLNT: {
    syntax: "CLNT <client name>",
    help: "Tell the server which client this is",
    needsLogin: false,
    argument: "optional",
    feature: () => "CLNT",
    async handle(context, argument) {
      context.log("debug", "Client identified", { clientName: argument.slice(0, 100) });
      await context.reply(Reply.Ok, "Noted");
    },
  },
};
