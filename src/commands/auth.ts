/**
 * Login and logout: USER, PASS, QUIT.
 *
 * @module
 */

import type { Session } from "../session.ts";
import { scopeToHome } from "../storage/scoped.ts";
import type { CommandSpec } from "./types.ts";

async function pass(session: Session, password: string): Promise<void> {
  if (session.user) {
    await session.reply(230, "Already logged in");
    return;
  }
  if (session.pendingUsername === undefined) {
    await session.reply(503, "Send USER first");
    return;
  }
  const { authenticator, storage, loginFailureDelayMs, maxLoginFailures } = session.context.options;
  const username = session.pendingUsername;
  session.pendingUsername = undefined;
  let user = null;
  try {
    user = await authenticator.authenticate({
      username,
      password,
      remoteAddress: session.remote.hostname,
    }, session.authContext);
  } catch (error) {
    session.log("warn", "Authenticator failed", { username, error: String(error) });
  }
  if (user) {
    try {
      let connector = typeof storage === "function" ? await storage(user) : storage;
      if (typeof user.home === "string") connector = await scopeToHome(connector, user.home);
      await session.logIn(user, connector);
    } catch (error) {
      session.log("error", "Opening storage failed", { username, error: String(error) });
      await session.reply(530, "Login failed: storage is not available");
    }
    return;
  }
  session.loginFailures++;
  session.context.emit("login-failed", { ...session.eventDetail, username });
  session.log("warn", "Login failed", { username, failures: session.loginFailures });
  if (session.context.loginGuard.recordFailure(session.remote.hostname)) {
    session.log("warn", "Address banned after repeated failed logins");
  }
  if (loginFailureDelayMs > 0) await new Promise((r) => setTimeout(r, loginFailureDelayMs));
  if (session.loginFailures >= maxLoginFailures) {
    await session.reply(421, "Too many failed logins; closing connection");
    session.close();
    return;
  }
  await session.reply(530, "Login incorrect");
}

/** USER, PASS and QUIT. */
export const authCommands: Record<string, CommandSpec> = {
  USER: {
    syntax: "USER <name>",
    help: "Give the user name",
    needsLogin: false,
    argument: "optional",
    async handle(session, argument) {
      if (session.user) {
        await session.reply(503, "Already logged in");
        return;
      }
      if (session.context.options.tls?.requireTlsForLogin && !session.tlsContext) {
        await session.reply(530, "TLS required: send AUTH TLS before USER");
        return;
      }
      session.pendingUsername = argument;
      await session.reply(331, "User name okay, need password");
    },
  },
  PASS: {
    syntax: "PASS <password>",
    help: "Give the password",
    needsLogin: false,
    argument: "optional",
    handle: pass,
  },
  QUIT: {
    syntax: "QUIT",
    help: "Log out and close the connection (after a running transfer ends)",
    needsLogin: false,
    argument: "optional",
    duringTransfer: true,
    async handle(session) {
      await session.waitForTransfer();
      session.close();
      await session.reply(221, "Goodbye");
    },
  },
};
