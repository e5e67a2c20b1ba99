/**
 * A user-scoped storage connector: every user sees only their own folder
 * `<root>/<username>`, created on first login. Use it from a config file with
 * `storage_connector: ./examples/user_folders.ts` and `storage_config: { root: /srv/ftp }`.
 *
 * The default export is a function of `storage_config` returning a per-user
 * provider `(user) => StorageConnector`.
 */

import { FileStorage, type FtpUser, type StorageConnector } from "../mod.ts";

export default function userFolders(
  config: { root?: string } = {},
): (user: FtpUser) => Promise<StorageConnector> {
  const root = config.root ?? ".";
  return async (user) => {
    if (!/^[\w.-]+$/.test(user.username) || user.username.startsWith(".")) {
      throw new Error(`user name ${JSON.stringify(user.username)} can't name a folder`);
    }
    const home = `${root}/${user.username}`;
    await Deno.mkdir(home, { recursive: true });
    return new FileStorage({ root: home });
  };
}
