/**
 * Listing formatters: `ls -l` lines for LIST, bare names for NLST, RFC 3659
 * fact lines for MLSD/MLST. Pure functions; the clock is a parameter.
 *
 * @module
 */

import type { FileInfo } from "../storage/types.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIX_MONTHS_MS = 182.5 * 24 * 60 * 60 * 1000;

/** Replace line breaks so a name can never split a listing or reply line. */
export function safeName(name: string): string {
  return name.replace(/[\r\n\0]/g, "?");
}

/** `rwx` triplets by three mode bits. */
const TRIPLETS = ["---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx"];

function permissionString(info: FileInfo): string {
  const mode = info.mode ?? (info.type === "directory" ? 0o755 : 0o644);
  return (info.type === "directory" ? "d" : "-") + TRIPLETS[(mode >> 6) & 7] +
    TRIPLETS[(mode >> 3) & 7] + TRIPLETS[mode & 7];
}

/**
 * The date column of `ls -l`: `Mon DD HH:MM` for the last six months,
 * `Mon DD  YYYY` for older or future times; UTC, English month names.
 */
export function lsDate(time: Date | undefined, now: Date): string {
  const t = time ?? new Date(0);
  const month = MONTHS[t.getUTCMonth()];
  const day = String(t.getUTCDate()).padStart(2, " ");
  const age = now.getTime() - t.getTime();
  if (age < 0 || age > SIX_MONTHS_MS) return `${month} ${day}  ${t.getUTCFullYear()}`;
  const hh = String(t.getUTCHours()).padStart(2, "0");
  const mm = String(t.getUTCMinutes()).padStart(2, "0");
  return `${month} ${day} ${hh}:${mm}`;
}

/** One `ls -l` style line (without CRLF). */
export function formatListLine(info: FileInfo, now: Date, name: string = info.name): string {
  const size = String(info.size).padStart(12, " ");
  return `${permissionString(info)} 1 ftp ftp ${size} ${lsDate(info.mtime, now)} ${safeName(name)}`;
}

/** `YYYYMMDDHHMMSS` in UTC (MDTM, MLSD `modify`), no fractional seconds. */
export function ftpTimestamp(time: Date): string {
  return time.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/** The MLSx facts a server can offer, in the order they are written. */
export const MLST_FACTS = ["type", "size", "modify", "perm", "unix.mode"] as const;
/** One MLSx fact name. */
export type MlstFact = typeof MLST_FACTS[number];

/**
 * One RFC 3659 entry: `fact=value;…; name`. Facts the backend cannot give are
 * omitted (no `modify` of 1970).
 *
 * @param permissions the `perm` letters this user has on this entry
 */
export function formatMlstEntry(
  info: FileInfo,
  facts: ReadonlySet<MlstFact>,
  permissions: string,
  name: string = info.name,
): string {
  let out = "";
  if (facts.has("type")) out += `type=${info.type === "directory" ? "dir" : "file"};`;
  if (facts.has("size") && info.type === "file") out += `size=${info.size};`;
  if (facts.has("modify") && info.mtime && info.mtime.getTime() > 0) {
    out += `modify=${ftpTimestamp(info.mtime)};`;
  }
  if (facts.has("perm")) out += `perm=${permissions};`;
  if (facts.has("unix.mode") && info.mode !== undefined) {
    out += `unix.mode=${(info.mode & 0o7777).toString(8).padStart(4, "0")};`;
  }
  return `${out} ${safeName(name)}`;
}
