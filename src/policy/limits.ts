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

/** The quota accounts of one server's sessions, and where their counters live. */
class ServerQuotas {
  readonly state: SharedState;
  readonly accounts = new Map<string, AccountEntry>();

  constructor(state: SharedState) {
    this.state = state;
  }
}

const quotasByServer = new WeakMap<ResolvedOptions, ServerQuotas>();
const budgetsByServer = new WeakMap<ResolvedOptions, BandwidthBudgets>();

/**
 * The quota accounts of the server with `options`. The first call for a
 * server fixes where the counters live: `state` (the server's shared state,
 * Redis with `cluster`), else `options.sharedState`, else a state of its own.
 */
function quotasOf(options: ResolvedOptions, state?: SharedState): ServerQuotas {
  let quotas = quotasByServer.get(options);
  if (!quotas) {
    quotas = new ServerQuotas(state ?? options.sharedState ?? new MemoryState());
    quotasByServer.set(options, quotas);
  }
  return quotas;
}

/** The bandwidth buckets of the server with `options` (per node: never shared). */
function budgetsOf(options: ResolvedOptions): BandwidthBudgets {
  let budgets = budgetsByServer.get(options);
  if (!budgets) {
    budgets = new BandwidthBudgets();
    budgetsByServer.set(options, budgets);
  }
  return budgets;
}

/** Bytes per second for `user` in one direction: the profile's, else the server's default. */
function rateOf(profile: unknown, fallback: number | undefined): number | undefined {
  if (typeof profile === "number" && Number.isFinite(profile) && profile > 0) return profile;
  return fallback;
}

/**
 * Account `user`'s changes to their home in their quota (nothing when no
 * quota applies). Wrap the home only, before other storage is mounted into
 * it: mounts are not the home's quota. `state` is the server's shared state
 * (with `cluster`, the fleet's); see {@linkcode quotasOf}.
 */
export function withQuota(
  home: StorageConnector,
  user: FtpUser,
  options: ResolvedOptions,
  state?: SharedState,
): StorageConnector {
  const quota = quotaLimitsOf(user);
  if (!quota) return home;
  const server = quotasOf(options, state);
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
      (message, fields) => options.logger("warn", message, { username: user.username, ...fields }),
    );
    entry = created;
    server.accounts.set(user.username, entry);
  }
  entry.sessions++;
  const held = entry;
  let closed = false;
  return new QuotaStorage(home, held.account, () => {
    if (closed) return;
    closed = true;
    if (--held.sessions === 0 && server.accounts.get(user.username) === held) {
      server.accounts.delete(user.username);
    }
  });
}

/**
 * Pace `user`'s file transfers by their budgets (the profile's, else the
 * server's defaults; nothing when neither is set). Wrap the whole tree the
 * user sees (mounts included): the budget is the user's, whatever the storage.
 */
export function withBandwidth(
  storage: StorageConnector,
  user: FtpUser,
  options: ResolvedOptions,
): StorageConnector {
  const downloadRate = rateOf(user.downloadBytesPerS, options.downloadBytesPerS);
  const uploadRate = rateOf(user.uploadBytesPerS, options.uploadBytesPerS);
  if (downloadRate === undefined && uploadRate === undefined) return storage;
  const budgets = budgetsOf(options);
  const lease = (direction: string, rate: number | undefined): BucketLease | undefined =>
    rate === undefined ? undefined : budgets.lease(`${direction}:${user.username}`, rate);
  return new ThrottledStorage(storage, {
    download: lease("download", downloadRate),
    upload: lease("upload", uploadRate),
  });
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
  return quotasByServer.get(options)?.accounts.get(user.username)?.account;
}
