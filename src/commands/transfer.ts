/**
 * Transfers and their parameters: RETR, STOR, APPE, REST, TYPE, MODE, STRU,
 * ALLO, ABOR.
 *
 * @module
 */

import { ChecksumTap } from "../checksums/tap.ts";
import { asciiUpperCase } from "../control/ascii.ts";
import { fromNetworkAscii, toNetworkAscii } from "../data/ascii.ts";
import type { ByteConnection } from "../data/connection.ts";
import { receiveStream, sendFile, sendStream } from "../data/streams.ts";
import type { TransferProgress, TransferRequest } from "../data/transfer.ts";
import { FtpError, StorageError } from "../errors.ts";
import { baseName, joinPath, parentPath } from "../paths.ts";
import { quotePath, Reply } from "../replies.ts";
import type { FileInfo } from "../storage/types.ts";
import { checkBeforeUpload } from "../webhooks/before_upload.ts";
import { logRefusal } from "./files.ts";
import type { CommandContext, CommandSpec } from "./context.ts";
import { onPath, UPLOAD_RULE } from "./permission_rules.ts";

function modeName(context: CommandContext): string {
  return context.state.transferType === "A" ? "ASCII" : "BINARY";
}

/** Take the REST offset (it applies to one transfer only). */
function takeRestOffset(context: CommandContext): number {
  const offset = context.state.restOffset;
  context.state.restOffset = 0;
  return offset;
}

/** Take the size announced by ALLO (it applies to the next upload only). */
function takeAnnouncedBytes(context: CommandContext): number {
  const bytes = context.state.announcedBytes;
  context.state.announcedBytes = 0;
  return bytes;
}

async function retrieve(context: CommandContext, argument: string): Promise<void> {
  const path = context.resolvePath(argument);
  const offset = takeRestOffset(context);
  if (offset > 0 && context.state.transferType === "A") {
    throw new FtpError(
      Reply.SyntaxErrorInArguments,
      "REST is not allowed in ASCII mode; use TYPE I",
    );
  }
  const info = await context.storage.stat(path);
  if (info.type !== "file") {
    throw new FtpError(Reply.FileUnavailable, `Not a regular file: ${quotePath(path)}`);
  }
  if (offset > info.size) {
    throw new FtpError(
      Reply.InvalidRestParameter,
      `Restart offset ${offset} is beyond the end of the file (${info.size})`,
    );
  }
  // The read's signal (ReadOptions.signal): aborted once the transfer is over,
  // so a read cut short (ABOR, a stall, the client gone, no data connection)
  // is stopped at the connector too; after a whole file it changes nothing.
  const reading = new AbortController();
  const openingText = `Opening ${modeName(context)} mode data connection for ${
    quotePath(baseName(path))
  } (${info.size - offset} bytes)`;
  const storage = context.storage;
  let run: TransferRequest["run"];
  let release: () => void;
  if (storage.openReader && context.state.transferType !== "A") {
    // The connector's fast path (see StorageConnector.openReader).
    const file = await storage.openReader(path, { offset, signal: reading.signal });
    run = (connection, signal, progress) => sendFile(file, connection, signal, progress);
    release = () => file.close();
  } else {
    let source = await storage.read(path, { offset, signal: reading.signal });
    if (context.state.transferType === "A") source = source.pipeThrough(toNetworkAscii());
    run = (connection, signal, progress) => sendStream(source, connection, signal, progress);
    release = () => void source.cancel().catch(() => {});
  }
  await context.startTransfer({
    command: "RETR",
    kind: "download",
    path,
    openingText,
    run,
    release: () => {
      reading.abort();
      release();
    },
  });
}

/**
 * Check an upload target before 150: its folder exists, it is not a folder.
 * Resolves with the existing file's facts, if any.
 */
async function checkUploadTarget(
  context: CommandContext,
  path: string,
): Promise<FileInfo | undefined> {
  if (path === "/") {
    throw new FtpError(Reply.FileNameNotAllowed, "Can't store over the root folder");
  }
  const folder = parentPath(path);
  const parent = await context.storage.stat(folder).catch((error) => {
    if (error instanceof StorageError && error.kind === "not_found") {
      throw new FtpError(Reply.FileNameNotAllowed, `No such folder: ${quotePath(folder)}`);
    }
    throw error;
  });
  if (parent.type !== "directory") {
    throw new FtpError(Reply.FileNameNotAllowed, `Not a folder: ${quotePath(folder)}`);
  }
  const existing = await context.storage.stat(path).catch((error) => {
    if (error instanceof StorageError && error.kind === "not_found") return undefined;
    throw error;
  });
  if (existing?.type === "directory") {
    throw new FtpError(Reply.FileNameNotAllowed, `Can't store over a folder: ${quotePath(path)}`);
  }
  return existing;
}

/** The checksums a whole-file upload computes (`upload_checksums`); none for `[]`. */
function uploadTap(context: CommandContext): ChecksumTap | undefined {
  const algorithms = context.options.uploadChecksums;
  return algorithms?.length === 0 ? undefined : new ChecksumTap(algorithms);
}

/**
 * The upload's source: the data connection, converted from CRLF in TYPE A.
 * `tap` sees the bytes as stored: on the data connection's own buffers in
 * TYPE I (the connector still reads the byte stream into its buffers), after
 * the conversion in TYPE A.
 */
function uploadSource(
  context: CommandContext,
  connection: ByteConnection,
  progress: TransferProgress,
  announcedBytes: number,
  signal: AbortSignal,
  tap?: ChecksumTap,
): ReadableStream<Uint8Array> {
  if (context.state.transferType === "A") {
    const text = receiveStream(connection, progress, announcedBytes, signal)
      .pipeThrough(fromNetworkAscii());
    return tap ? text.pipeThrough(tap.transform()) : text;
  }
  return receiveStream(connection, progress, announcedBytes, signal, tap && ((b) => tap.update(b)));
}

async function store(
  context: CommandContext,
  argument: string,
  command: "STOR" | "APPE",
): Promise<void> {
  const path = context.resolvePath(argument);
  if (command === "APPE" && context.state.restOffset > 0) {
    context.state.restOffset = 0;
    throw new FtpError(Reply.BadSequence, "REST is not allowed before APPE");
  }
  const offset = takeRestOffset(context);
  if (offset > 0 && context.state.transferType === "A") {
    throw new FtpError(
      Reply.SyntaxErrorInArguments,
      "REST is not allowed in ASCII mode; use TYPE I",
    );
  }
  const announced = takeAnnouncedBytes(context);
  const existing = await checkUploadTarget(context, path);
  let position: "truncate" | "append" | number = command === "APPE" ? "append" : "truncate";
  if (offset > 0) {
    if (!existing || offset > existing.size) {
      throw new FtpError(
        Reply.InvalidRestParameter,
        `Restart offset ${offset} is beyond the end of the file`,
      );
    }
    position = offset;
  }
  // Before 150: a refusal moves no byte.
  await checkBeforeUpload(context.options.events, {
    session: context.eventDetail,
    command,
    path,
    size: announced || undefined,
    offset,
  }, (level, message, fields) => context.log(level, message, fields));
  // Checksums of the whole file, so only when the upload is the whole file.
  const tap = position === "truncate" ? uploadTap(context) : undefined;
  await context.startTransfer({
    command,
    kind: "upload",
    path,
    openingText: `Opening ${modeName(context)} mode data connection for ${
      quotePath(baseName(path))
    }`,
    run: async (connection, signal, progress) => {
      const source = uploadSource(context, connection, progress, announced, signal, tap);
      await context.storage.write(path, source, { position, signal, checksums: tap });
      return progress.bytes;
    },
    checksums: () => tap?.digests(),
  });
}

/** STOU: store under a new name that no other session can take. */
async function storeUnique(context: CommandContext, argument: string): Promise<void> {
  if (context.state.restOffset > 0) {
    context.state.restOffset = 0;
    throw new FtpError(Reply.BadSequence, "REST is not allowed before STOU");
  }
  if (!context.dataSetup) {
    throw new FtpError(Reply.CantOpenDataConnection, "Use PASV, EPSV, PORT or EPRT first");
  }
  const announced = takeAnnouncedBytes(context);
  const wanted = context.resolvePath(argument.trim() || "file");
  await checkUploadTarget(context, wanted === "/" ? "/file" : wanted);
  const folder = parentPath(wanted);
  const base = baseName(wanted) || "file";
  let path: string | undefined;
  for (let attempt = 0; attempt < 1000 && !path; attempt++) {
    const candidate = joinPath(
      folder,
      attempt === 0 && argument.trim() ? base : `${base}.${attempt}`,
    );
    try {
      await context.storage.write(candidate, new Blob([]).stream(), { exclusive: true });
      path = candidate;
    } catch (error) {
      if (!(error instanceof StorageError && error.kind === "already_exists")) throw error;
    }
  }
  if (!path) throw new FtpError(Reply.FileNameNotAllowed, "Can't find a unique name");
  const reserved = path;
  await checkBeforeUpload(context.options.events, {
    session: context.eventDetail,
    command: "STOU",
    path: reserved,
    size: announced || undefined,
    offset: 0,
  }, (level, message, fields) => context.log(level, message, fields)).catch(async (error) => {
    await context.storage.remove(reserved).catch(() => {});
    throw error;
  });
  const tap = uploadTap(context);
  let stored = false;
  await context.startTransfer({
    command: "STOU",
    kind: "upload",
    path: reserved,
    openingText: `FILE: ${baseName(reserved)}`,
    run: async (connection, signal, progress) => {
      const source = uploadSource(context, connection, progress, announced, signal, tap);
      await context.storage.write(reserved, source, { signal, checksums: tap });
      stored = true;
      return progress.bytes;
    },
    checksums: () => tap?.digests(),
    release: () => {
      if (!stored) context.storage.remove(reserved).catch(() => {});
    },
  });
}

/** A transfer command whose refusals before the data connection (550, 553…) are logged. */
function logsRefusal(
  command: string,
  handle: (context: CommandContext, argument: string) => Promise<void>,
): (context: CommandContext, argument: string) => Promise<void> {
  return async (context, argument) => {
    try {
      await handle(context, argument);
    } catch (error) {
      logRefusal(context, command, error, { path: context.resolvePath(argument) });
      throw error;
    }
  };
}

/** RETR, STOR, APPE, REST, TYPE, MODE, STRU, ALLO, ABOR. */
export const transferCommands: Record<string, CommandSpec> = {
  RETR: {
    syntax: "RETR <path>",
    help: "Download a file (from the REST offset, if any)",
    needsLogin: true,
    argument: "required",
    permission: onPath("download"),
    handle: logsRefusal("RETR", retrieve),
  },
  STOR: {
    syntax: "STOR <path>",
    help: "Upload a file (from the REST offset, if any)",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: UPLOAD_RULE,
    handle: logsRefusal("STOR", (context, argument) => store(context, argument, "STOR")),
  },
  STOU: {
    syntax: "STOU [name]",
    help: "Upload under a unique name (given in the 150 reply)",
    needsLogin: true,
    argument: "optional",
    changesStorage: true,
    // A new file, always (named after the argument, or "file").
    permission: {
      actions: ["upload"],
      checks: (context, argument) => [{
        action: "upload",
        path: context.resolvePath(argument.trim() || "file"),
      }],
    },
    handle: logsRefusal("STOU", storeUnique),
  },
  APPE: {
    syntax: "APPE <path>",
    help: "Append to a file (creating it if missing)",
    needsLogin: true,
    argument: "required",
    changesStorage: true,
    permission: UPLOAD_RULE,
    handle: logsRefusal("APPE", (context, argument) => store(context, argument, "APPE")),
  },
  REST: {
    syntax: "REST <offset>",
    help: "Restart the next RETR or STOR at a byte offset",
    needsLogin: true,
    argument: "required",
    feature: () => "REST STREAM",
    async handle(context, argument) {
      const text = argument.trim();
      const offset = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(offset)) {
        throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: REST <offset>");
      }
      if (offset > 0 && context.state.transferType === "A") {
        throw new FtpError(
          Reply.SyntaxErrorInArguments,
          "REST is not allowed in ASCII mode; use TYPE I",
        );
      }
      context.state.restOffset = offset;
      await context.reply(
        Reply.PendingFurtherInformation,
        `Restarting at ${offset}; send RETR or STOR to go on`,
      );
    },
  },
  TYPE: {
    syntax: "TYPE A|I|L 8",
    help: "Set the transfer type: A (text, CRLF on the wire) or I (binary)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      const type = asciiUpperCase(argument.trim()).replace(/\s+/g, " ");
      if (type === "A" || type === "A N") {
        context.state.transferType = "A";
        await context.reply(Reply.Ok, "Type set to A");
      } else if (type === "I" || type === "L 8") {
        context.state.transferType = "I";
        await context.reply(Reply.Ok, "Type set to I");
      } else {
        throw new FtpError(
          Reply.NotImplementedForParameter,
          `Type "${type.slice(0, 16)}" not supported; use A or I`,
        );
      }
    },
  },
  MODE: {
    syntax: "MODE S",
    help: "Set the transfer mode (stream only)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      if (asciiUpperCase(argument.trim()) !== "S") {
        throw new FtpError(Reply.NotImplementedForParameter, "Only MODE S is supported");
      }
      await context.reply(Reply.Ok, "Mode set to S");
    },
  },
  STRU: {
    syntax: "STRU F",
    help: "Set the file structure (file only)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      if (asciiUpperCase(argument.trim()) !== "F") {
        throw new FtpError(Reply.NotImplementedForParameter, "Only STRU F is supported");
      }
      await context.reply(Reply.Ok, "Structure set to F");
    },
  },
  ALLO: {
    syntax: "ALLO <bytes>",
    help: "Announce an upload's size (no allocation is needed)",
    needsLogin: true,
    argument: "required",
    async handle(context, argument) {
      // "ALLO n" or "ALLO n R m" (record size, meaningless in stream mode).
      const match = /^\s*(\d{1,16})(\s+R\s+\d+)?\s*$/i.exec(argument);
      if (!match) throw new FtpError(Reply.SyntaxErrorInArguments, "Syntax: ALLO <bytes>");
      context.state.announcedBytes = Number(match[1]);
      await context.reply(
        Reply.Superfluous,
        "No storage allocation necessary; the next upload must bring them",
      );
    },
  },
  ABOR: {
    syntax: "ABOR",
    help: "Abort the running transfer",
    needsLogin: true,
    argument: "none",
    duringTransfer: true,
    async handle(context) {
      if (await context.abortTransfer()) {
        // Commands sent before ABOR are answered before it, in order.
        await context.waitForTransfer();
        await context.reply(Reply.TransferComplete, "ABOR successful");
        return;
      }
      context.clearDataSetup();
      await context.reply(Reply.DataConnectionIdle, "No transfer to abort");
    },
  },
};
