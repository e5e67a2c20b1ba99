/**
 * A custom authenticator: a fixed table of users, one of them read-only.
 * Use it from a config file with `authenticator: ./examples/custom_authenticator.ts`.
 *
 * The default export may be an `Authenticator` or, as here, a function of the
 * `authenticator_config` mapping that returns one.
 */

import type { Authenticator, FtpUser } from "../mod.ts";

interface Config {
  users?: Record<string, { password: string; read_only?: boolean }>;
}

/** Compare two strings in constant time (for equal-length inputs). */
function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

export default function tableAuthenticator(config: Config = {}): Authenticator {
  const users = config.users ?? { demo: { password: "demo", read_only: true } };
  return {
    authenticate({ username, password }): Promise<FtpUser | null> {
      const entry = Object.hasOwn(users, username) ? users[username] : undefined;
      const ok = sameText(password, entry?.password ?? "\0never");
      return Promise.resolve(entry && ok ? { username, readOnly: entry.read_only ?? false } : null);
    },
  };
}
