/**
 * How the data connection is made: PASV, EPSV, PORT, EPRT.
 *
 * @module
 */

import { asciiUpperCase } from "../control/ascii.ts";
import { lookup } from "node:dns/promises";
import { isIPv6, normalizeHost } from "../data/connection.ts";
import { type DataListener, PassivePortsExhausted } from "../data/passive.ts";
import { FtpError } from "../errors.ts";
import type { PassiveAddressRule } from "../options.ts";
import { CidrList } from "../proxy/cidr.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { Reply } from "../replies.ts";

/** Open a passive listener on the control connection's local address. */
async function openPassive(context: CommandContext): Promise<DataListener> {
  context.clearDataSetup();
  let listener: DataListener;
  try {
    listener = await context.listenPassive();
  } catch (error) {
    if (error instanceof PassivePortsExhausted) {
      context.log("warn", "No passive port available", { range: `${error.min}-${error.max}` });
      context.emit("passive-ports-exhausted", context.eventDetail);
    }
    throw error;
  }
  context.dataSetup = { kind: "passive", listener };
  return listener;
}

/** The rule lists of `passive_address`, with their networks parsed once. */
const parsedRules = new WeakMap<readonly PassiveAddressRule[], [CidrList | undefined, string][]>();

/**
 * What `passive_address` says for this client: an address, a host name, or
 * `connected` (the address the client connected to: the PROXY header's
 * destination behind a balancer, else the control connection's local address).
 */
async function configuredAddress(context: CommandContext): Promise<string> {
  const configured = context.options.passiveAddress ?? CONNECTED;
  const client = context.remote.hostname;
  if (typeof configured === "function") return await configured(client);
  if (typeof configured === "string") return configured;
  let rules = parsedRules.get(configured);
  if (!rules) {
    rules = configured.map((rule) => [
      rule.networks ? new CidrList(rule.networks) : undefined,
      rule.address,
    ]);
    parsedRules.set(configured, rules);
  }
  return rules.find(([networks]) => !networks || networks.contains(client))?.[1] ?? CONNECTED;
}

const CONNECTED = "connected";

/** The IPv4 address to advertise in 227, or `undefined` when it would be IPv6 (EPSV only). */
async function advertisedAddress(context: CommandContext): Promise<string | undefined> {
  const configured = await configuredAddress(context);
  let host = normalizeHost(configured === CONNECTED ? context.local.hostname : configured);
  if (isIPv6(host)) return undefined;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
    try {
      host = (await lookup(host, { family: 4 })).address;
    } catch (error) {
      context.log("error", "Passive address does not resolve to IPv4", {
        host,
        error: String(error),
      });
      throw new FtpError(
        Reply.CantOpenDataConnection,
        "Can't enter passive mode: passive address is not usable",
      );
    }
  }
  return host;
}

/** Check an active-mode target: the client's own address, an unprivileged port. */
function checkActiveTarget(context: CommandContext, hostname: string, port: number): void {
  if (normalizeHost(hostname) !== context.remote.hostname) {
    throw new FtpError(
      Reply.SyntaxError,
      "Illegal PORT: data connections go to your own address only",
    );
  }
  if (port < 1024) {
    throw new FtpError(
      Reply.NotImplementedForParameter,
      "Illegal PORT: ports below 1024 are refused",
    );
  }
}

function refuseAfterEpsvAll(context: CommandContext, verb: string): void {
  if (context.state.epsvAll) {
    throw new FtpError(Reply.BadSequence, `${verb} not allowed after EPSV ALL`);
  }
}

/** PASV, EPSV, PORT, EPRT. */
export const dataSetupCommands: Record<string, CommandSpec> = {
  PASV: {
    syntax: "PASV",
    help: "Enter passive mode (IPv4)",
    needsLogin: true,
    argument: "none",
    async handle(context) {
      refuseAfterEpsvAll(context, "PASV");
      // A client that reached us over IPv6 (directly or per its PROXY header)
      // and has no IPv4 address configured for it gets EPSV.
      const address = await advertisedAddress(context);
      if (address === undefined) {
        throw new FtpError(Reply.NetworkProtocolNotSupported, "PASV is IPv4 only; use EPSV");
      }
      const { port } = await openPassive(context);
      const numbers = `${address.replaceAll(".", ",")},${port >> 8},${port & 255}`;
      await context.reply(Reply.EnteringPassiveMode, `Entering Passive Mode (${numbers}).`);
    },
  },
  EPSV: {
    syntax: "EPSV [1|2|ALL]",
    help: "Enter extended passive mode (IPv4 or IPv6)",
    needsLogin: true,
    argument: "optional",
    feature: () => "EPSV",
    async handle(context, argument) {
      const family = asciiUpperCase(argument.trim());
      const own = isIPv6(context.local.hostname) ? "2" : "1";
      if (family === "ALL") {
        context.state.epsvAll = true;
        await context.reply(Reply.Ok, "EPSV ALL accepted");
        return;
      }
      if (family !== "" && family !== own) {
        if (/^\d+$/.test(family)) {
          throw new FtpError(
            Reply.NetworkProtocolNotSupported,
            `Network protocol not supported, use (${own})`,
          );
        }
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: EPSV [1|2|ALL]");
      }
      const { port } = await openPassive(context);
      await context.reply(
        Reply.EnteringExtendedPassiveMode,
        `Entering Extended Passive Mode (|||${port}|)`,
      );
    },
  },
  PORT: {
    syntax: "PORT h1,h2,h3,h4,p1,p2",
    help: "Enter active mode: the server connects to the client (IPv4)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      refuseAfterEpsvAll(context, "PORT");
      const parts = argument.trim().split(",");
      const numbers = parts.map((part) => /^\d{1,3}$/.test(part.trim()) ? Number(part) : NaN);
      if (numbers.length !== 6 || numbers.some((n) => !(n >= 0 && n <= 255))) {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: PORT h1,h2,h3,h4,p1,p2");
      }
      const hostname = numbers.slice(0, 4).join(".");
      const port = numbers[4] * 256 + numbers[5];
      checkActiveTarget(context, hostname, port);
      context.clearDataSetup();
      context.dataSetup = { kind: "active", hostname, port };
      await context.reply(Reply.Ok, "PORT command successful");
    },
  },
  EPRT: {
    syntax: "EPRT |af|address|port|",
    help: "Enter extended active mode (IPv4 or IPv6)",
    needsLogin: true,
    argument: "required",
    feature: () => "EPRT",
    async handle(context, argument) {
      refuseAfterEpsvAll(context, "EPRT");
      const text = argument.trim();
      const delimiter = text[0];
      const code = delimiter?.charCodeAt(0) ?? 0;
      const fields = text.split(delimiter);
      if (code < 33 || code > 126 || fields.length !== 5 || fields[0] !== "" || fields[4] !== "") {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: EPRT |af|address|port|");
      }
      const [, family, hostname, portText] = fields;
      if (family !== "1" && family !== "2") {
        throw new FtpError(
          Reply.NetworkProtocolNotSupported,
          "Network protocol not supported, use (1,2)",
        );
      }
      const valid = family === "1"
        ? /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) &&
          hostname.split(".").every((n) => Number(n) <= 255)
        : /^[0-9a-fA-F:.]+$/.test(hostname) && hostname.includes(":");
      const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
      if (!valid || !(port >= 1 && port <= 65535)) {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: EPRT |af|address|port|");
      }
      checkActiveTarget(context, hostname, port);
      context.clearDataSetup();
      context.dataSetup = { kind: "active", hostname, port };
      await context.reply(Reply.Ok, "EPRT command successful");
    },
  },
};
