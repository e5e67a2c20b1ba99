/**
 * A user's limits applied to their storage at login: quota accounting
 * ({@linkcode QuotaStorage}) and bandwidth ({@linkcode ThrottledStorage}).
 * What sessions of one server share (quota accounts, bandwidth buckets) is
 * kept per server, keyed by its resolved options, so two servers in one
 * process never share a budget.
 *
 * @module
 */

import type { FtpUser } from "../auth/types.ts";
import { MemoryState, type SharedState } from "../cluster/state.ts";
import type { ResolvedOptions } from "../options.ts";
import type { StorageConnector } from "../storage/types.ts";
import { BandwidthBudgets, type BucketLease, ThrottledStorage } from "./bandwidth.ts";
import { QuotaAccount, quotaLimitsOf, QuotaStorage } from "./quota.ts";

interface AccountEntry {
  account: QuotaAccount;
  sessions: number;
  /** The home of the newest session (walked when usage is computed). */
  home: StorageConnector;
}

/** What the sessions of one server share. */
class ServerLimits {
  readonly state: SharedState;
  readonly budgets = new BandwidthBudgets();
  readonly accounts = new Map<string, AccountEntry>();

  constructor(state: SharedState) {
    this.state = state;
  }
}

const servers = new WeakMap<ResolvedOptions, ServerLimits>();

function limitsOf(options: ResolvedOptions): ServerLimits {
  let limits = servers.get(options);
  if (!limits) {
    limits = new ServerLimits(options.sharedState ?? new MemoryState());
    servers.set(options, limits);
  }
  return limits;
}

/** Bytes per second for `user` in one direction: the profile's, else the server's default. */
function rateOf(profile: unknown, fallback: number | undefined): number | undefined {
  if (typeof profile === "number" && Number.isFinite(profile) && profile > 0) return profile;
  return fallback;
}

/**
 * Wrap the home storage of `user` in what their limits need (nothing when
 * none applies): quota accounting over the home, then bandwidth pacing. The
 * session's `close()` of the result gives shared budgets back.
 */
export function applyUserLimits(
  home: StorageConnector,
  user: FtpUser,
  options: ResolvedOptions,
): StorageConnector {
  const server = limitsOf(options);
  let storage = home;
  const quota = quotaLimitsOf(user);
  if (quota) {
    let entry = server.accounts.get(user.username);
    if (entry) {
      entry.account.limits = quota;
      entry.home = home;
    } else {
      const created: AccountEntry = {
        account: undefined as unknown as QuotaAccount,
        sessions: 0,
        home,
      };
      created.account = new QuotaAccount(
        user.username,
        quota,
        server.state,
        () => created.home,
        (message, fields) =>
          options.logger("warn", message, { username: user.username, ...fields }),
      );
      entry = created;
      server.accounts.set(user.username, entry);
    }
    entry.sessions++;
    const held = entry;
    let closed = false;
    storage = new QuotaStorage(storage, held.account, () => {
      if (closed) return;
      closed = true;
      if (--held.sessions === 0 && server.accounts.get(user.username) === held) {
        server.accounts.delete(user.username);
      }
    });
  }
  const downloadRate = rateOf(user.downloadBytesPerS, options.downloadBytesPerS);
  const uploadRate = rateOf(user.uploadBytesPerS, options.uploadBytesPerS);
  if (downloadRate !== undefined || uploadRate !== undefined) {
    const lease = (direction: string, rate: number | undefined): BucketLease | undefined =>
      rate === undefined ? undefined : server.budgets.lease(`${direction}:${user.username}`, rate);
    storage = new ThrottledStorage(storage, {
      download: lease("download", downloadRate),
      upload: lease("upload", uploadRate),
    });
  }
  return storage;
}

/**
 * The quota account of `user` on this server while one of their sessions is
 * logged in; undefined when no quota applies to them.
 */
export function quotaAccountOf(
  options: ResolvedOptions,
  user: FtpUser | undefined,
): QuotaAccount | undefined {
  if (!user || !quotaLimitsOf(user)) return undefined;
  return servers.get(options)?.accounts.get(user.username)?.account;
}
