/**
 * Users from a YAML file, each with a password hash, an optional home folder
 * and an optional read-only flag. The file is re-read when it changes, and on
 * SIGHUP.
 *
 *   printf '%s\n' 'correct horse' | deno run main.ts hash-password   # prints a hash
 *   mkdir -p files
 *   deno run --allow-net=127.0.0.1 --allow-read=. --allow-write=files examples/auth_users_file.ts users.yaml files
 *
 * serves the folder `files` (never the one holding users.yaml: a user could
 * download the password hashes; the example refuses that) with users.yaml:
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
import { dirname, resolve, sep } from "node:path";

const path = Deno.args[0] ?? "users.yaml";
const root = await Deno.realPath(Deno.args[1] ?? "files");
const usersFolder = await Deno.realPath(dirname(resolve(path)));
if (usersFolder === root || usersFolder.startsWith(root + sep)) {
  console.error(
    `Refusing to serve ${root}: it holds ${path}, whose password hashes users could download`,
  );
  Deno.exit(2);
}
using authenticator = await UsersFileAuthenticator.open(path, {
  reloadSignal: Deno.build.os === "windows" ? undefined : "SIGHUP",
  logger: (level, message, fields) => console.error(level, message, fields),
});
await using server = new FtpServer({
  port: 2121,
  authenticator,
  storage: new FileStorage({ root }),
});
const { hostname, port } = await server.listen();
console.log(
  `${authenticator.size} users from ${path}; serving ${root}; FTP on ${hostname}:${port}; Ctrl-C to stop`,
);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
