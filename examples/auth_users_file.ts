/**
 * Users from a YAML file, each with a password hash, an optional home folder
 * and an optional read-only flag. The file is re-read when it changes, and on
 * SIGHUP.
 *
 *   printf '%s\n' 'correct horse' | deno run main.ts hash-password   # prints a hash
 *   deno run --allow-net=127.0.0.1 --allow-read=. --allow-write=. examples/auth_users_file.ts users.yaml
 *
 * with users.yaml:
 *
 * ```yaml
 * users:
 *   - username: alice
 *     password_hash: pbkdf2-sha256$600000$…$…   # from hash-password
 *     home: /alice                              # alice's "/" (created on login)
 *   - username: auditor
 *     password_hash: pbkdf2-sha256$600000$…$…
 *     read_only: true
 * ```
 *
 * The same from a config file: `authenticator: users_file` with
 * `authenticator_config: { path: users.yaml }` (relative to the config file).
 */

import { FileStorage, FtpServer } from "../mod.ts";
import { UsersFileAuthenticator } from "../src/auth/users_file.ts";

const path = Deno.args[0] ?? "users.yaml";
using authenticator = await UsersFileAuthenticator.open(path, {
  reloadSignal: Deno.build.os === "windows" ? undefined : "SIGHUP",
  logger: (level, message, fields) => console.error(level, message, fields),
});
await using server = new FtpServer({
  port: 2121,
  authenticator,
  storage: new FileStorage({ root: "." }),
});
const { hostname, port } = await server.listen();
console.log(`${authenticator.size} users from ${path}; FTP on ${hostname}:${port}; Ctrl-C to stop`);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
