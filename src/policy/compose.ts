/**
 * A user's storage, composed once at login from their profile: the
 * provider's connector → scoped to `home` → other storages mounted at
 * `folders`, with quota accounting over the home (mounts don't count against
 * it) and the bandwidth budget over everything.
 *
 * @module
 */

import type { FtpUser } from "../auth/types.ts";
import type { SharedState } from "../cluster/state.ts";
import type { ResolvedOptions } from "../options.ts";
import { withBandwidth, withQuota } from "./limits.ts";
import { scopeToHome } from "../storage/scoped.ts";
import type { StorageConnector, StorageProvider } from "../storage/types.ts";
import { type Mount, MountStorage } from "./mounts.ts";
import { ProfileError } from "./profile.ts";

/** Where a user's storage comes from. */
export interface ComposeOptions {
  /** The server's storage (its `/`, or a per-user provider). */
  storage: StorageProvider;
  /** The named storages that profiles mount (`storages` in the config). */
  storages?: Readonly<Record<string, StorageProvider>>;
  /** The server's options (server-wide bandwidth defaults); without them, no limits apply. */
  options?: ResolvedOptions;
  /** Where quota usage is kept (the fleet's shared state with `cluster`). */
  state?: SharedState;
}

async function open(provider: StorageProvider, user: FtpUser): Promise<StorageConnector> {
  return typeof provider === "function" ? await provider(user) : provider;
}

/**
 * Compose the storage a logged-in user sees.
 *
 * @throws {ProfileError} when a folder names a storage the config lacks
 * @throws what the providers throw (the login then fails: storage not available)
 */
export async function composeUserStorage(
  user: FtpUser,
  { storage, storages = {}, options, state }: ComposeOptions,
): Promise<StorageConnector> {
  const folders = user.folders ?? [];
  folders.forEach((folder, index) => {
    if (!Object.hasOwn(storages, folder.storage)) {
      const known = Object.keys(storages);
      throw new ProfileError(
        `folders[${index}].storage`,
        `no storage ${JSON.stringify(folder.storage)} in the config's storages (${
          known.length ? known.join(", ") : "none defined"
        })`,
      );
    }
  });
  let connector = await open(storage, user);
  // What was opened for this login (per-user providers), closed if it fails.
  const owned: StorageConnector[] = typeof storage === "function" ? [connector] : [];
  try {
    if (typeof user.home === "string") connector = await scopeToHome(connector, user.home);
    if (options) connector = withQuota(connector, user, options, state);
    if (folders.length > 0) {
      const mounts: Mount[] = [];
      for (const folder of folders) {
        const provider = storages[folder.storage];
        const mounted = await open(provider, user);
        if (typeof provider === "function") owned.push(mounted);
        mounts.push({ path: folder.path, storage: mounted, owned: typeof provider === "function" });
      }
      connector = new MountStorage(connector, mounts);
    }
    if (options) connector = withBandwidth(connector, user, options);
    return connector;
  } catch (error) {
    await Promise.allSettled(owned.map((each) => each.close?.()));
    throw error;
  }
}
