/**
 * The built-in authenticators by config name (`authenticator: basic`), each a
 * factory of its `authenticator_config` mapping. A factory validates its
 * config and throws a {@linkcode ConfigError} naming the key
 * (`authenticator_config.login_url`) when something is wrong. Only the
 * named authenticator's code is loaded (`import()` with a literal specifier,
 * so `deno compile` and `deno bundle` still include it): the others cost
 * memory in every process that doesn't use them (RSS after start, issue 16).
 *
 * @module
 */

import { resolve } from "node:path";
import { ConfigError } from "../config/error.ts";
import type { Logger } from "../log.ts";
import type { HttpAuthenticatorOptions } from "./http.ts";
import { normalizeMethod, normalizeServiceUrl, redactUrl } from "../http_url.ts";
import type { Authenticator } from "./types.ts";
import type { PasswordHashType } from "./webhook.ts";

/** What a factory gets besides its config. */
export interface FactoryContext {
  /** Folder that relative paths in the config are resolved from. */
  baseDir: string;
  /** Where an authenticator logs what happens outside any session (a users file reloaded on SIGHUP). */
  logger?: Logger;
}

/** Builds an authenticator from its config mapping. */
export type AuthenticatorFactory = (
  config: Record<string, unknown>,
  context: FactoryContext,
) => Authenticator | Promise<Authenticator>;

const PREFIX = "authenticator_config";

function checkKeys(name: string, config: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      throw new ConfigError(
        `${PREFIX}.${key}`,
        known.length === 0
          ? `unknown key: authenticator ${name} takes no configuration`
          : `unknown key for authenticator ${name}; known keys are ${known.join(", ")}`,
      );
    }
  }
}

function url(config: Record<string, unknown>, key: string, required: boolean): URL | undefined {
  const value = config[key];
  if (value === undefined || value === null) {
    if (required) throw new ConfigError(`${PREFIX}.${key}`, "is required (an http(s) URL)");
    return undefined;
  }
  if (typeof value !== "string") {
    throw new ConfigError(
      `${PREFIX}.${key}`,
      `must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  }
  try {
    return normalizeServiceUrl(value);
  } catch (error) {
    let shown = value;
    try {
      shown = redactUrl(new URL(value));
    } catch {
      // Not a URL at all: nothing secret to hide in it.
    }
    const problem = /user:password/.test((error as Error).message)
      ? "must not contain user:password@ (the FTP user's credentials are sent instead)"
      : "must be an http(s) URL";
    throw new ConfigError(`${PREFIX}.${key}`, `${problem}, got ${JSON.stringify(shown)}`);
  }
}

function method(config: Record<string, unknown>, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  try {
    if (typeof value !== "string") throw new TypeError();
    return normalizeMethod(value);
  } catch {
    throw new ConfigError(
      `${PREFIX}.${key}`,
      `must be an HTTP method such as GET or POST (not CONNECT, TRACE or TRACK), got ${
        JSON.stringify(value)
      }`,
    );
  }
}

function milliseconds(
  config: Record<string, unknown>,
  key: string,
  min: number,
): number | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  const number = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (
    typeof number !== "number" || !Number.isInteger(number) || number < min || number > 2 ** 31 - 1
  ) {
    throw new ConfigError(
      `${PREFIX}.${key}`,
      `must be a whole number of milliseconds from ${min} to ${2 ** 31 - 1}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return number;
}

const HTTP_KEYS = [
  "login_url",
  "login_method",
  "timeout_ms",
  "authenticated_url",
  "authenticated_method",
  "authenticated_ttl_ms",
] as const;

function httpOptions(name: string, config: Record<string, unknown>): HttpAuthenticatorOptions {
  const options: HttpAuthenticatorOptions = {
    loginUrl: url(config, "login_url", true)!,
    loginMethod: method(config, "login_method"),
    timeoutMs: milliseconds(config, "timeout_ms", 1),
    authenticatedUrl: url(config, "authenticated_url", false),
    authenticatedMethod: method(config, "authenticated_method"),
    authenticatedTtlMs: milliseconds(config, "authenticated_ttl_ms", 0),
  };
  if (!options.authenticatedUrl) {
    for (const key of ["authenticated_method", "authenticated_ttl_ms"]) {
      if (config[key] !== undefined && config[key] !== null) {
        throw new ConfigError(
          `${PREFIX}.${key}`,
          `needs ${PREFIX}.authenticated_url (authenticator ${name})`,
        );
      }
    }
  }
  return options;
}

function httpFactory(
  name: string,
  build: (options: HttpAuthenticatorOptions) => Promise<Authenticator>,
): AuthenticatorFactory {
  return (config) => {
    checkKeys(name, config, HTTP_KEYS);
    return build(httpOptions(name, config));
  };
}

async function webhook(config: Record<string, unknown>): Promise<Authenticator> {
  checkKeys("webhook", config, [...HTTP_KEYS, "password_hash_type"]);
  const { PASSWORD_HASH_TYPES, WebhookAuthenticator } = await import("./webhook.ts");
  const type = config.password_hash_type ?? "sha256";
  if (typeof type !== "string" || !(PASSWORD_HASH_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(
      `${PREFIX}.password_hash_type`,
      `must be one of ${PASSWORD_HASH_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
    );
  }
  return new WebhookAuthenticator({
    ...httpOptions("webhook", config),
    passwordHashType: type as PasswordHashType,
  });
}

async function usersFile(
  config: Record<string, unknown>,
  context: FactoryContext,
): Promise<Authenticator> {
  checkKeys("users_file", config, ["path"]);
  const key = `${PREFIX}.path`;
  const value = config.path;
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigError(
      key,
      `must be the path of a YAML or JSON users file, got ${JSON.stringify(value)}`,
    );
  }
  const path = resolve(context.baseDir, value);
  const { UsersFileAuthenticator } = await import("./users_file.ts");
  try {
    return await UsersFileAuthenticator.open(path, {
      // No reloadSignal: the CLI's SIGHUP handler calls reload() and logs what it reloaded.
      logger: context.logger,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(key, `no permission to read "${path}": add --allow-read=${path}`);
    }
    if (error instanceof SyntaxError) throw new ConfigError(key, `"${path}": ${error.message}`);
    throw new ConfigError(key, `can't read "${path}": ${(error as Error).message}`);
  }
}

/** Every built-in authenticator, by config name. */
export const AUTHENTICATORS: Record<string, AuthenticatorFactory> = {
  no_auth: async (config) => {
    checkKeys("no_auth", config, []);
    const { NoAuthAuthenticator } = await import("./no_auth.ts");
    return new NoAuthAuthenticator();
  },
  passthrough: async (config) => {
    checkKeys("passthrough", config, []);
    const { PassthroughAuthenticator } = await import("./passthrough.ts");
    return new PassthroughAuthenticator();
  },
  basic: httpFactory("basic", async (options) => {
    const { BasicAuthenticator } = await import("./basic.ts");
    return new BasicAuthenticator(options);
  }),
  digest: httpFactory("digest", async (options) => {
    const { DigestAuthenticator } = await import("./digest.ts");
    return new DigestAuthenticator(options);
  }),
  bearer: async (config) => {
    checkKeys("bearer", config, [...HTTP_KEYS, "service_checks_username"]);
    const checks = config.service_checks_username;
    if (checks !== undefined && checks !== null && typeof checks !== "boolean") {
      throw new ConfigError(
        `${PREFIX}.service_checks_username`,
        `must be true or false, got ${JSON.stringify(checks)}`,
      );
    }
    const { BearerAuthenticator } = await import("./bearer.ts");
    return new BearerAuthenticator({
      ...httpOptions("bearer", config),
      serviceChecksUsername: checks ?? false,
    });
  },
  webhook,
  users_file: usersFile,
};
