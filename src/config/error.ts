/**
 * The configuration error type, shared by the CLI's config loader and the
 * factories of built-in authenticators and connectors.
 *
 * @module
 */

/** A configuration problem, naming the key and what is wrong with its value. */
export class ConfigError extends Error {
  /** The offending key as the user spelled it (YAML key, env variable or flag). */
  readonly key: string;

  /** `key: problem`. */
  constructor(key: string, problem: string) {
    super(`${key}: ${problem}`);
    this.name = "ConfigError";
    this.key = key;
  }
}
