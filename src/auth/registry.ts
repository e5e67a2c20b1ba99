/**
 * The built-in authenticators by config name (`authenticator: basic`), each a
 * factory of its `authenticator_config` mapping. A factory validates its
 * config and throws a {@linkcode ConfigError} naming the key
 * (`authenticator_config.login_url`) when something is wrong.
 *
 * @module
 */

import { NoAuthAuthenticator } from "./no_auth.ts";
import { PassthroughAuthenticator } from "./passthrough.ts";
import type { Authenticator } from "./types.ts";

/** What a factory gets besides its config. */
export interface FactoryContext {
  /** Folder that relative paths in the config are resolved from. */
  baseDir: string;
}

/** Builds an authenticator from its config mapping. */
export type AuthenticatorFactory = (
  config: Record<string, unknown>,
  context: FactoryContext,
) => Authenticator | Promise<Authenticator>;

/** Every built-in authenticator, by config name. */
export const AUTHENTICATORS: Record<string, AuthenticatorFactory> = {
  no_auth: () => new NoAuthAuthenticator(),
  passthrough: () => new PassthroughAuthenticator(),
};
