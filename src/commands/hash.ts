/**
 * Checksums of stored files: HASH and OPTS HASH (draft-bryan-ftpext-hash-02),
 * and the older XCRC, XMD5, XSHA1, XSHA256 and XSHA512 (as ProFTPD's
 * mod_digest and GlobalSCAPE answer them: `250 <HEX>`, with optional start
 * and end offsets).
 *
 * A checksum the connector kept when the file was uploaded is answered at
 * once, reading nothing. Otherwise the file is read once, beside the control
 * loop like a transfer: STAT shows the bytes read, ABOR stops it (426, then
 * 226), other commands wait for it.
 *
 * RANG (draft-bryan-ftp-range) is not supported, so HASH always covers the
 * whole file and FEAT lists no RANG; the X-commands take a range instead.
 *
 * @module
 */

import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  parseChecksumAlgorithm,
} from "../checksums/algorithms.ts";
import { streamChecksum } from "../checksums/compute.ts";
import { FtpError, StorageError } from "../errors.ts";
import { quotePath, Reply } from "../replies.ts";
import type { CommandContext, CommandSpec } from "./context.ts";

/** The FEAT line: every algorithm, the session's selection starred. */
function hashFeature(context: CommandContext): string {
  const selected = context.state.hashAlgorithm;
  return "HASH " +
    CHECKSUM_ALGORITHMS.map((algorithm) => algorithm === selected ? `${algorithm}*` : algorithm)
      .join(";");
}

/** OPTS HASH [algorithm]: say or change the algorithm HASH uses. */
export async function selectHashAlgorithm(context: CommandContext, value: string): Promise<void> {
  if (value.trim() !== "") {
    const algorithm = parseChecksumAlgorithm(value);
    if (!algorithm) {
      throw new FtpError(
        Reply.SyntaxErrorInArguments,
        `Unknown algorithm "${value.trim().slice(0, 16)}", current selection not changed`,
      );
    }
    context.state.hashAlgorithm = algorithm;
  }
  await context.reply(Reply.Ok, context.state.hashAlgorithm);
}

/** The size of the file at `path`; a folder is refused with `folderCode`. */
async function fileSize(context: CommandContext, path: string, folderCode: number) {
  const info = await context.storage.stat(path);
  if (info.type !== "file") {
    throw new FtpError(folderCode, `Not a file (a folder has no checksum): ${quotePath(path)}`);
  }
  return info.size;
}

/**
 * Answer with the checksum of `path` from `start` to `end` (exclusive):
 * the kept one when the whole file is asked for, else read beside the control loop.
 */
async function answerChecksum(
  context: CommandContext,
  command: string,
  path: string,
  algorithm: ChecksumAlgorithm,
  range: { start: number; end: number; size: number },
  reply: (digest: string) => { code: number; text: string },
): Promise<void> {
  const whole = range.start === 0 && range.end === range.size;
  const kept = whole ? await context.storage.checksum?.(path, algorithm) : undefined;
  if (kept) {
    const { code, text } = reply(kept);
    await context.reply(code, text);
    return;
  }
  const storage = context.storage;
  context.startTask({
    command,
    path,
    run: async (signal, progress) =>
      reply(
        await streamChecksum(storage, path, algorithm, {
          start: range.start,
          end: range.end,
          signal,
          onProgress: (n) => progress.add(n),
        }),
      ),
  });
}

async function hash(context: CommandContext, argument: string): Promise<void> {
  const path = context.resolvePath(argument);
  // The draft: 553 for a folder (a folder's hash is not defined), 550 when missing.
  const size = await fileSize(context, path, Reply.FileNameNotAllowed);
  const algorithm = context.state.hashAlgorithm;
  // The draft's range is inclusive; an empty file still says 0-0.
  const last = Math.max(size - 1, 0);
  await answerChecksum(context, "HASH", path, algorithm, { start: 0, end: size, size }, (hex) => ({
    code: Reply.FileStatus,
    text: `${algorithm} 0-${last} ${hex} ${argument}`,
  }));
}

/** `path [start [end]]`, or `"path with spaces" [start [end]]` (as ProFTPD takes it). */
async function parseRangeArgument(
  context: CommandContext,
  argument: string,
): Promise<{ path: string; start?: number; end?: number }> {
  const quoted = /^"([^"]*)"(?:\s+(\d{1,16}))?(?:\s+(\d{1,16}))?\s*$/.exec(argument);
  const plain = /^(.*?)\s+(\d{1,16})(?:\s+(\d{1,16}))?\s*$/.exec(argument);
  let match = quoted;
  if (!match && plain) {
    // "a 5" may be a file name: the whole argument wins when it names something.
    const whole = await context.storage.stat(context.resolvePath(argument)).then(
      () => true,
      (error) => {
        if (error instanceof StorageError && error.kind === "not_found") return false;
        throw error;
      },
    );
    if (!whole) match = plain;
  }
  if (!match) return { path: context.resolvePath(argument) };
  return {
    path: context.resolvePath(match[1]),
    start: match[2] === undefined ? undefined : Number(match[2]),
    end: match[3] === undefined ? undefined : Number(match[3]),
  };
}

/** XCRC, XMD5, XSHA1, XSHA256, XSHA512: `250 <HEX>` of the file or of a range. */
function digestCommand(command: string, algorithm: ChecksumAlgorithm): CommandSpec {
  return {
    syntax: `${command} <path> [<start> [<end>]]`,
    help: `${algorithm} of a file, or of its bytes from start to end (exclusive)`,
    needsLogin: true,
    argument: "required",
    feature: () => command,
    async handle(context, argument) {
      const { path, start = 0, end } = await parseRangeArgument(context, argument);
      const size = await fileSize(context, path, Reply.FileUnavailable);
      const stop = end ?? size;
      if (start > stop || stop > size) {
        throw new FtpError(
          Reply.SyntaxErrorInArguments,
          `Range ${start}-${stop} is not within the file (${size} bytes)`,
        );
      }
      await answerChecksum(
        context,
        command,
        path,
        algorithm,
        { start, end: stop, size },
        (hex) => ({ code: Reply.FileActionOk, text: hex.toUpperCase() }),
      );
    },
  };
}

/** HASH, XCRC, XMD5, XSHA1, XSHA256, XSHA512 (OPTS HASH is in OPTS). */
export const hashCommands: Record<string, CommandSpec> = {
  HASH: {
    syntax: "HASH <path>",
    help: "Checksum of a file with the algorithm OPTS HASH selects",
    needsLogin: true,
    argument: "required",
    feature: hashFeature,
    handle: hash,
  },
  XCRC: digestCommand("XCRC", "CRC32"),
  XMD5: digestCommand("XMD5", "MD5"),
  XSHA1: digestCommand("XSHA1", "SHA-1"),
  XSHA256: digestCommand("XSHA256", "SHA-256"),
  XSHA512: digestCommand("XSHA512", "SHA-512"),
};
