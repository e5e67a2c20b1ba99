/**
 * FTPS (RFC 4217): AUTH, PBSZ, PROT, CCC.
 *
 * @module
 */

import { asciiUpperCase } from "../control/ascii.ts";
import { FtpError } from "../errors.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { Reply } from "../replies.ts";

const tlsConfigured = (context: CommandContext) => context.options.tls !== undefined;

/** AUTH, PBSZ, PROT, CCC. */
export const tlsCommands: Record<string, CommandSpec> = {
  AUTH: {
    syntax: "AUTH TLS",
    help: "Switch the control connection to TLS",
    needsLogin: false,
    argument: "required",
    available: tlsConfigured,
    duringTransfer: true, // answered at once: 503 while busy, never queued
    feature: () => ["AUTH TLS", "AUTH SSL"],
    async handle(context, argument) {
      const mechanism = asciiUpperCase(argument.trim());
      if (context.tlsActive) throw new FtpError(Reply.BadSequence, "Already using TLS");
      if (!["TLS", "TLS-C", "SSL", "TLS-P"].includes(mechanism)) {
        throw new FtpError(
          Reply.NotImplementedForParameter,
          `AUTH ${mechanism.slice(0, 16)} is not supported; use AUTH TLS`,
        );
      }
      if (context.busy) throw new FtpError(Reply.BadSequence, "Wait for the transfer to end");
      await context.upgradeToTls();
      if (context.tlsActive && (mechanism === "SSL" || mechanism === "TLS-P")) {
        // Old clients expect AUTH SSL to protect data too (RFC 4217 §4 notes it).
        context.state.protectionBufferSizeSet = true;
        context.state.protection = "P";
      }
    },
  },
  PBSZ: {
    syntax: "PBSZ 0",
    help: "Protection buffer size (0 for TLS)",
    needsLogin: false,
    argument: "required",
    available: tlsConfigured,
    feature: () => "PBSZ",
    async handle(context, argument) {
      if (!context.tlsActive) throw new FtpError(Reply.BadSequence, "Send AUTH TLS first");
      if (!/^\d+$/.test(argument.trim())) {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: PBSZ 0");
      }
      context.state.protectionBufferSizeSet = true;
      await context.reply(Reply.Ok, "PBSZ=0");
    },
  },
  PROT: {
    syntax: "PROT P|C",
    help: "Data connection protection: P (TLS) or C (clear)",
    needsLogin: false,
    argument: "required",
    available: tlsConfigured,
    feature: () => "PROT",
    async handle(context, argument) {
      if (!context.tlsActive) throw new FtpError(Reply.BadSequence, "Send AUTH TLS first");
      if (!context.state.protectionBufferSizeSet) {
        throw new FtpError(Reply.BadSequence, "Send PBSZ 0 first");
      }
      const level = asciiUpperCase(argument.trim());
      if (level === "P" || level === "C") {
        if (level === "C" && context.options.tls?.requireTlsForData) {
          throw new FtpError(Reply.DeniedForPolicy, "Data connections must be protected here");
        }
        context.state.protection = level;
        await context.reply(Reply.Ok, `Protection level set to ${level}`);
        return;
      }
      if (level === "S" || level === "E") {
        throw new FtpError(
          Reply.ProtectionLevelNotSupported,
          `Protection level ${level} is not supported`,
        );
      }
      throw new FtpError(Reply.NotImplementedForParameter, "Syntax: PROT P|C");
    },
  },
  CCC: {
    syntax: "CCC",
    help: "Clear the control channel (refused: it would expose later commands)",
    needsLogin: false,
    argument: "none",
    async handle(context) {
      await context.reply(Reply.NotImplemented, "CCC is not allowed");
    },
  },
};
