import type { Authenticator, Credentials, FtpUser } from "./types.ts";

/**
 * Lets everyone in with any or no user name and password. For tests and
 * demos only; the server logs a warning when it is configured.
 */
export class NoAuthAuthenticator implements Authenticator {
  /** Logged at start-up. */
  readonly warning = "authenticator no_auth lets anyone log in: not for production";

  /** Always succeeds; an empty name becomes `anonymous`. */
  authenticate({ username }: Credentials): Promise<FtpUser> {
    return Promise.resolve({ username: username || "anonymous" });
  }
}
