/**
 * Login and logout: USER, PASS, QUIT.
 *
 * @module
 */

import { type FtpUser, isAuthUnavailable } from "../auth/types.ts";
import { sessionOwner } from "../cluster/session_limits.ts";
import { BANNED_REPLY } from "../login_guard.ts";
import { composeUserStorage } from "../policy/compose.ts";
import { ProfileError } from "../policy/profile.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { Reply } from "../replies.ts";

/**
 * A ban covers the address's sessions opened before it too: their next
 * login attempt is refused, and they are closed, as a new connection would be.
 */
async function refuseWhenBanned(context: CommandContext): Promise<boolean> {
  if (!(await context.loginGuard.isBanned(context.remote.hostname))) return false;
  context.log("warn", "Login attempt from a banned address; closing the session");
  await context.reply(Reply.ServiceNotAvailable, BANNED_REPLY);
  context.close();
  return true;
}

/**
 * The per-user session limit, at login: the user's own `maxSessions` when the
 * authenticator set one, else `max_sessions_per_user`. Over it, 421 and the
 * session closes (not a failed login: the password was right).
 */
async function admitUser(context: CommandContext, user: FtpUser): Promise<boolean> {
  const limit = user.maxSessions ?? context.options.maxSessionsPerUser;
  if (limit === undefined) return true;
  const owner = sessionOwner(context.eventDetail.sessionId);
  if (await context.sessionLimits.admitUser(owner, user.username, limit)) return true;
  context.log("warn", "Login refused: the user has too many sessions", { limit });
  await context.reply(
    Reply.ServiceNotAvailable,
    `Too many sessions for this user (at most ${limit}); try again later`,
  );
  context.close();
  return false;
}

async function pass(context: CommandContext, password: string): Promise<void> {
  if (context.user) {
    await context.reply(Reply.LoggedIn, "Already logged in");
    return;
  }
  const { authenticator, storage, storages, loginFailureDelayMs, maxLoginFailures } =
    context.options;
  // PASS alone is a login when the password identifies the user (a token).
  if (context.state.pendingUsername === undefined && !authenticator.usernameOptional) {
    await context.reply(Reply.BadSequence, "Send USER first");
    return;
  }
  if (await refuseWhenBanned(context)) return;
  const username = context.state.pendingUsername ?? "";
  context.state.pendingUsername = undefined;
  let user = null;
  try {
    user = await authenticator.authenticate({
      username,
      password,
      remoteAddress: context.remote.hostname,
    }, context.authContext);
  } catch (error) {
    if (isAuthUnavailable(error)) {
      // An outage is not a wrong password: no failure, no ban, no delay.
      context.log("error", "Authentication service unavailable; login not decided", {
        username,
        error: error.message,
      });
      context.emit("auth-unavailable", { ...context.eventDetail, username });
      await context.reply(
        Reply.ServiceNotAvailable,
        "Authentication service not available; try again later",
      );
      context.close();
      return;
    }
    context.log("error", "Authenticator failed", { username, error: String(error) });
  }
  if (user && !(await admitUser(context, user))) return;
  if (user) {
    try {
      const connector = await composeUserStorage(user, {
        storage,
        storages,
        options: context.options,
        state: context.sharedState,
      });
      await context.logIn(user, connector);
    } catch (error) {
      // Not logged in after all: the user's session slot is free again.
      await context.sessionLimits.release(sessionOwner(context.eventDetail.sessionId));
      if (error instanceof ProfileError) {
        // The profile names what the config lacks: the login can't be served as asked.
        context.log("error", "Login refused: the profile doesn't fit the config", {
          username,
          field: error.field,
          problem: error.problem,
        });
        await context.reply(Reply.NotLoggedIn, "Login failed: your profile can't be served");
        return;
      }
      context.log("error", "Opening storage failed", { username, error: String(error) });
      await context.reply(Reply.NotLoggedIn, "Login failed: storage is not available");
    }
    return;
  }
  context.state.loginFailures++;
  context.emit("login-failed", { ...context.eventDetail, username });
  context.log("warn", "Login failed", { username, failures: context.state.loginFailures });
  if (await context.loginGuard.recordFailure(context.remote.hostname)) {
    context.log("warn", "Address banned after repeated failed logins");
  }
  if (loginFailureDelayMs > 0) await new Promise((r) => setTimeout(r, loginFailureDelayMs));
  if (context.state.loginFailures >= maxLoginFailures) {
    await context.reply(Reply.ServiceNotAvailable, "Too many failed logins; closing connection");
    context.close();
    return;
  }
  await context.reply(Reply.NotLoggedIn, "Login incorrect");
}

/** USER, PASS and QUIT. */
export const authCommands: Record<string, CommandSpec> = {
  USER: {
    syntax: "USER <name>",
    help: "Give the user name",
    needsLogin: false,
    argument: "optional",
    async handle(context, argument) {
      if (context.user) {
        await context.reply(Reply.BadSequence, "Already logged in");
        return;
      }
      if (await refuseWhenBanned(context)) return;
      if (context.options.tls?.requireTlsForLogin && !context.tlsActive) {
        await context.reply(Reply.NotLoggedIn, "TLS required: send AUTH TLS before USER");
        return;
      }
      context.state.pendingUsername = argument;
      await context.reply(Reply.NeedPassword, "User name okay, need password");
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
    async handle(context) {
      await context.waitForTransfer();
      context.close();
      await context.reply(Reply.Goodbye, "Goodbye");
    },
  },
};

/**
 * The pipeline's 421 step: asks the authenticator whether the logged-in user
 * is still valid, at most once per its `revalidateEveryMs`. A revoked user, or
 * an authentication service that is down, ends the session with 421.
 */
export class Revalidation {
  readonly #context: CommandContext;
  #validatedAt = 0;

  /** Re-validate the user of `context`. */
  constructor(context: CommandContext) {
    this.#context = context;
  }

  /** The user has just logged in: valid until the next interval. */
  loggedIn(): void {
    this.#validatedAt = Date.now();
  }

  /** Whether the session may go on; when not, 421 has been sent and the session closes. */
  async check(): Promise<boolean> {
    const context = this.#context;
    const { authenticator } = context.options;
    const user = context.user;
    if (!authenticator.isStillValid || !user) return true;
    const interval = authenticator.revalidateEveryMs ?? 0;
    if (Date.now() - this.#validatedAt < interval) return true;
    let valid = false;
    try {
      valid = await authenticator.isStillValid(user, context.authContext);
    } catch (error) {
      if (isAuthUnavailable(error)) {
        context.log("error", "Authentication service unavailable; closing the session", {
          error: error.message,
        });
        context.emit("auth-unavailable", context.eventDetail);
        await context.reply(
          Reply.ServiceNotAvailable,
          "Authentication service not available; closing connection",
        );
        context.close();
        return false;
      }
      context.log("warn", "Re-validating the user failed", { error: String(error) });
    }
    if (valid) {
      this.#validatedAt = Date.now();
      return true;
    }
    context.log("warn", "User no longer valid; closing the session");
    await context.reply(
      Reply.ServiceNotAvailable,
      "Your login is no longer valid; closing connection",
    );
    context.close();
    return false;
  }
}
