/**
 * The settings table as people read it: the CLI's `--help` and the README's
 * options table (`deno task readme-table` writes it; a test compares it).
 *
 * @module
 */

import { CLI_FLAGS, type FlagSpec, type Setting, SETTINGS } from "./schema.ts";

/** The default of a setting as docs show it, in the YAML key's unit. */
export function shownDefault(setting: Setting): string {
  if (setting.shownDefault !== undefined) return setting.shownDefault;
  if (typeof setting.default === "number" && setting.kind === "duration") {
    return String(setting.default / setting.unit!);
  }
  return setting.default === undefined ? "" : String(setting.default);
}

/** `--name ARG`. */
function flagText(flag: FlagSpec | { name: string; arg?: string }): string {
  return `--${flag.name}${flag.arg ? ` ${flag.arg}` : ""}`;
}

const code = (text: string | undefined) => text ? `\`${text}\`` : "";

/** The README's options table: one row per YAML key, and `--config`. */
export function optionsTableRows(): string[][] {
  const rows = SETTINGS.filter((setting) => setting.key !== undefined).map((setting) => [
    setting.flag ? code(flagText(setting.flag)) : "",
    code(setting.key),
    code(setting.env),
    shownDefault(setting),
    setting.doc,
  ]);
  const config = CLI_FLAGS.find((flag) => flag.name === "config")!;
  rows.push([code(flagText(config)), "", "", "", config.doc]);
  return rows;
}

/** The header of the README's options table. */
export const OPTIONS_TABLE_HEADER = ["flag", "YAML key", "environment", "default", "meaning"];

/** The options table as Markdown, aligned as `deno fmt` aligns it. */
export function optionsTable(): string {
  const rows = [OPTIONS_TABLE_HEADER, ...optionsTableRows()];
  const widths = OPTIONS_TABLE_HEADER.map((_, column) =>
    Math.max(...rows.map((row) => row[column].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
  return [
    line(rows[0]),
    line(widths.map((width) => "-".repeat(width))),
    ...rows.slice(1).map(line),
  ].join("\n");
}

/** Usage lines when it is not known how exftp was started. */
const DEFAULT_USAGE =
  `  deno run --allow-net --allow-read=DIR --allow-write=DIR --allow-env main.ts [options]
  deno run main.ts hash-password [--iterations N]   hash a password for a users_file`;

/** The CLI's `--help`; `usage` says how to start exftp the way it was started. */
export function helpText(version: string, usage: string = DEFAULT_USAGE): string {
  const plain = (text: string) => text.replaceAll("`", "");
  const flags = [
    ...SETTINGS.filter((setting) => setting.flag).map((setting) => ({
      ...setting.flag!,
      doc: `${plain(setting.doc)} (${setting.key}${
        shownDefault(setting) ? `, default ${plain(shownDefault(setting))}` : ""
      })`,
    })),
    ...CLI_FLAGS,
  ].map((flag) => {
    const names = `${"short" in flag && flag.short ? `-${flag.short}, ` : "    "}${flagText(flag)}`;
    return `  ${names.padEnd(22)} ${flag.doc}`;
  });
  const keys = SETTINGS.filter((setting) => setting.key).map((setting) =>
    `  ${setting.key!.padEnd(26)} ${(setting.env ?? "").padEnd(21)} ${
      plain(shownDefault(setting)).padEnd(13)
    } ${plain(setting.doc)}`.trimEnd()
  );
  return `exftp ${version}: an FTP server with pluggable authentication and storage

Usage:
${usage}

Options:
${flags.join("\n")}

Config keys (the YAML file), their environment variables (need --allow-env) and defaults:
${keys.join("\n")}

Precedence: flags > environment > config file > defaults.
SIGHUP reloads the users_file and the TLS certificate; SIGINT/SIGTERM stop gracefully.
`;
}
