/**
 * Login and logout: USER, PASS, QUIT.
 *
 * @module
 */

import { isAuthUnavailable } from "../auth/types.ts";
import type { Session } from "../session.ts";
import { BANNED_REPLY } from "../login_guard.ts";
import { scopeToHome } from "../storage/scoped.ts";
import type { CommandSpec } from "./types.ts";

/**
 * A ban covers the address's sessions opened before it too: their next
 * login attempt is refused, and they are closed, as a new connection would be.
 */
async function refuseWhenBanned(session: Session): Promise<boolean> {
  if (!session.context.loginGuard.isBanned(session.remote.hostname)) return false;
  session.log("warn", "Login attempt from a banned address; closing the session");
  await session.reply(421, BANNED_REPLY);
  session.close();
  return true;
}

async function pass(session: Session, password: string): Promise<void> {
  if (session.user) {
    await session.reply(230, "Already logged in");
    return;
  }
  const { authenticator, storage, loginFailureDelayMs, maxLoginFailures } = session.context.options;
  // PASS alone is a login when the password identifies the user (a token).
  if (session.pendingUsername === undefined && !authenticator.usernameOptional) {
    await session.reply(503, "Send USER first");
    return;
  }
  if (await refuseWhenBanned(session)) return;
  const username = session.pendingUsername ?? "";
  session.pendingUsername = undefined;
  let user = null;
  try {
    user = await authenticator.authenticate({
      username,
      password,
      remoteAddress: session.remote.hostname,
    }, session.authContext);
  } catch (error) {
    if (isAuthUnavailable(error)) {
      // An outage is not a wrong password: no failure, no ban, no delay.
      session.log("error", "Authentication service unavailable; login not decided", {
        username,
        error: error.message,
      });
      session.context.emit("auth-unavailable", { ...session.eventDetail, username });
      await session.reply(421, "Authentication service not available; try again later");
      session.close();
      return;
    }
    session.log("error", "Authenticator failed", { username, error: String(error) });
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
      if (await refuseWhenBanned(session)) return;
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
    help: "Give the password (alone, a token, when the authenticator allows it)",
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
