import type { Authenticator, Credentials, FtpUser } from "./types.ts";

/**
 * Accepts any user name except `root` (in any case), with any password. The
 * client must still send USER and PASS. Useful when the network or the
 * storage already decides who may do what.
 */
export class PassthroughAuthenticator implements Authenticator {
  /** Refuses empty names and `root`. */
  authenticate({ username }: Credentials): Promise<FtpUser | null> {
    const name = username.trim();
    if (name === "" || name.toLowerCase() === "root") return Promise.resolve(null);
    return Promise.resolve({ username: name });
  }
}
