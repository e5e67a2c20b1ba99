/**
 * Users from a local YAML or JSON file with salted PBKDF2 password hashes.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  parsePasswordHash,
  type Pbkdf2Hash,
  verifyPassword,
} from "./password_hash.ts";
import type { AuthContext, Authenticator, Credentials, FtpUser } from "./types.ts";
import { parseProfile, PROFILE_FIELDS, ProfileError } from "../policy/profile.ts";

/** One user of a users file. */
export interface UsersFileEntry {
  /** The login name (compared exactly). */
  username: string;
  /** The parsed `password_hash`. */
  passwordHash: Pbkdf2Hash;
  /** The storage folder that becomes the user's `/`. */
  home?: string;
  /** Refuse every command that changes storage. */
  readOnly: boolean;
  /** The whole profile (permissions, quotas, folders…): what a login resolves with. */
  profile: FtpUser;
}

// A file's typos should stop start-up, so unlike a service's answer no unknown key is kept.
const ENTRY_KEYS = ["password_hash", ...PROFILE_FIELDS];

/**
 * Parse and check the text of a users file: a list of users, at the top or
 * under `users:`, each `{username, password_hash}` plus any field of the user
 * profile (`home`, `read_only`, `permissions`, `quota_bytes`, `folders`…).
 *
 * @param json parse as JSON rather than YAML
 * @throws {SyntaxError} naming the entry and key (`users[1].password_hash: …`)
 */
export async function parseUsersFile(text: string, json = false): Promise<UsersFileEntry[]> {
  let value: unknown;
  try {
    if (json) {
      value = JSON.parse(text);
    } else if (text.replace(/#.*$/gm, "").trim() !== "") {
      // (js-yaml refuses an empty document; an empty file is just no users.)
      const { load } = await import("js-yaml");
      value = load(text);
    }
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    throw new SyntaxError(`not valid ${json ? "JSON" : "YAML"}: ${message}`);
  }
  if (value === null || value === undefined) return [];
  if (typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const unknown = keys.find((key) => key !== "users");
    if (unknown !== undefined) {
      throw new SyntaxError(`unknown key ${JSON.stringify(unknown)}; expected a list of users`);
    }
    value = (value as { users?: unknown }).users ?? [];
  }
  if (!Array.isArray(value)) {
    throw new SyntaxError("must be a list of users (or a mapping with a list under users:)");
  }
  const entries: UsersFileEntry[] = [];
  const seen = new Set<string>();
  value.forEach((item: unknown, index) => {
    const where = `users[${index}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new SyntaxError(`${where}: must be a mapping with username and password_hash`);
    }
    const record = item as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!ENTRY_KEYS.includes(key)) {
        throw new SyntaxError(
          `${where}.${key}: unknown key; known keys are ${ENTRY_KEYS.join(", ")}`,
        );
      }
    }
    const { username, password_hash: hash, ...fields } = record;
    if (typeof username !== "string" || username.trim() === "") {
      throw new SyntaxError(`${where}.username: must be a non-empty string`);
    }
    if (seen.has(username)) {
      throw new SyntaxError(`${where}.username: ${JSON.stringify(username)} appears twice`);
    }
    seen.add(username);
    if (typeof hash !== "string") {
      throw new SyntaxError(
        `${where}.password_hash: must be a string (made by exftp hash-password)`,
      );
    }
    let passwordHash: Pbkdf2Hash;
    try {
      passwordHash = parsePasswordHash(hash);
    } catch (error) {
      throw new SyntaxError(`${where}.password_hash: ${(error as Error).message}`);
    }
    let profile: FtpUser;
    try {
      profile = parseProfile({ ...fields, username }, username);
    } catch (error) {
      if (!(error instanceof ProfileError)) throw error;
      throw new SyntaxError(`${where}.${error.field}: ${error.problem}`);
    }
    profile.readOnly ??= false;
    entries.push({
      username,
      passwordHash,
      home: profile.home,
      readOnly: profile.readOnly,
      profile,
    });
  });
  return entries;
}

/** Options of {@linkcode UsersFileAuthenticator.open}. */
export interface UsersFileAuthenticatorOptions {
  /**
   * Re-read the file when the process gets this signal (e.g. `"SIGHUP"`);
   * {@linkcode UsersFileAuthenticator.close} removes the listener. Ignored
   * where the platform has no such signal.
   */
  reloadSignal?: Deno.Signal;
  /** Where reloads that no login triggered (the signal) are logged. */
  logger?: Logger;
}

type Stamp = string;

async function stampOf(path: string): Promise<Stamp> {
  const info = await Deno.stat(path);
  return [info.mtime?.getTime(), info.ctime?.getTime(), info.size, info.ino].join("|");
}

/**
 * Logs users in from a YAML or JSON file of users with PBKDF2-SHA256 hashes
 * (see `exftp hash-password`), each with an optional `home` folder and
 * `read_only` flag:
 *
 * ```yaml
 * users:
 *   - username: alice
 *     password_hash: pbkdf2-sha256$600000$…$…
 *     home: /alice
 *   - username: auditor
 *     password_hash: pbkdf2-sha256$600000$…$…
 *     read_only: true
 * ```
 *
 * The file is checked for changes (modification time, size, inode) at each
 * login and re-read when it changed; a file that became invalid is reported
 * and the previous users stay. Unknown users and wrong passwords get the same
 * refusal after the same work: an unknown name is checked against a dummy
 * hash.
 *
 * @example
 * ```ts ignore
 * import { UsersFileAuthenticator } from "@exftp/server";
 * using authenticator = await UsersFileAuthenticator.open("./users.yaml", {
 *   reloadSignal: "SIGHUP",
 * });
 * ```
 */
export class UsersFileAuthenticator implements Authenticator, Disposable {
  /** The file read. */
  readonly path: string;
  #users = new Map<string, UsersFileEntry>();
  #dummy: Pbkdf2Hash;
  #stamp: Stamp = "";
  #failedStamp: Stamp = "";
  #checking?: Promise<void>;
  readonly #logger?: Logger;
  #signal?: { signal: Deno.Signal; handler: () => void };

  private constructor(path: string, options: UsersFileAuthenticatorOptions) {
    this.path = path;
    this.#logger = options.logger;
    this.#dummy = dummyHash(DEFAULT_PBKDF2_ITERATIONS);
  }

  /**
   * Read the file and build the authenticator.
   *
   * @throws {SyntaxError} when the file's content is wrong (naming entry and key)
   * @throws {Deno.errors.NotFound} and other file errors when it can't be read
   */
  static async open(
    path: string,
    options: UsersFileAuthenticatorOptions = {},
  ): Promise<UsersFileAuthenticator> {
    const authenticator = new UsersFileAuthenticator(path, options);
    const stamp = await stampOf(path);
    authenticator.#install(await authenticator.#read(), stamp);
    if (options.reloadSignal) authenticator.#listen(options.reloadSignal);
    return authenticator;
  }

  /** How many users the file holds. */
  get size(): number {
    return this.#users.size;
  }

  /** The user names, in file order. */
  get usernames(): string[] {
    return [...this.#users.keys()];
  }

  async #read(): Promise<UsersFileEntry[]> {
    const text = await Deno.readTextFile(this.path);
    return await parseUsersFile(text, /\.json$/i.test(this.path));
  }

  #install(entries: UsersFileEntry[], stamp: Stamp): void {
    this.#users = new Map(entries.map((entry) => [entry.username, entry]));
    // Unknown names cost what the file's users cost.
    this.#dummy = dummyHash(entries[0]?.passwordHash.iterations ?? DEFAULT_PBKDF2_ITERATIONS);
    this.#stamp = stamp;
  }

  /**
   * Re-read the file now, whether or not it changed. On a problem the
   * previous users stay and the problem is logged.
   *
   * @returns whether the file was read and installed
   */
  async reload(context?: AuthContext): Promise<boolean> {
    const log = context?.log ?? this.#logger;
    try {
      const stamp = await stampOf(this.path);
      const entries = await this.#read();
      this.#install(entries, stamp);
      log?.("info", "Users file loaded", { path: this.path, users: entries.length });
      return true;
    } catch (error) {
      log?.("error", "Users file not reloaded; keeping the previous users", {
        path: this.path,
        error: (error as Error).message,
      });
      return false;
    }
  }

  async #reloadIfChanged(context?: AuthContext): Promise<void> {
    let stamp: Stamp;
    try {
      stamp = await stampOf(this.path);
    } catch (error) {
      if (this.#failedStamp !== "missing") {
        this.#failedStamp = "missing";
        context?.log("error", "Users file can't be read; keeping the previous users", {
          path: this.path,
          error: (error as Error).message,
        });
      }
      return;
    }
    if (stamp === this.#stamp || stamp === this.#failedStamp) return;
    if (!(await this.reload(context))) this.#failedStamp = stamp;
  }

  /** Checks the file for changes, then the password (constant time, same cost for unknown names). */
  async authenticate(
    { username, password }: Credentials,
    context?: AuthContext,
  ): Promise<FtpUser | null> {
    this.#checking ??= this.#reloadIfChanged(context).finally(() => this.#checking = undefined);
    await this.#checking;
    const entry = this.#users.get(username);
    const matches = await verifyPassword(password, entry?.passwordHash ?? this.#dummy);
    if (!entry || !matches) return null;
    // A fresh object per login: sessions never share (or change) each other's user.
    return structuredClone(entry.profile);
  }

  #listen(signal: Deno.Signal): void {
    const handler = () => void this.reload();
    try {
      Deno.addSignalListener(signal, handler);
      this.#signal = { signal, handler };
    } catch {
      // No such signal here (SIGHUP on Windows): changes are still seen at login.
    }
  }

  /** Stop listening for the reload signal. */
  close(): void {
    if (!this.#signal) return;
    Deno.removeSignalListener(this.#signal.signal, this.#signal.handler);
    this.#signal = undefined;
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function dummyHash(iterations: number): Pbkdf2Hash {
  return {
    iterations,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    hash: crypto.getRandomValues(new Uint8Array(32)),
  };
}
