/**
 * FTP reply formatting (RFC 959 §4.2).
 *
 * @module
 */

/**
 * FTP reply codes by name (RFC 959 §4.2, with RFC 2228, 2428, 3659, 4217 and
 * 7151). Code that answers a client names the code instead of writing the number.
 *
 * @example
 * ```ts
 * import { Reply } from "@exftp/server";
 * console.log(Reply.FileUnavailable); // 550
 * ```
 */
export const Reply = {
  /** 110: restart marker (unused: stream mode only). */
  RestartMarker: 110,
  /** 125: data connection already open; transfer starting. */
  DataConnectionOpen: 125,
  /** 150: file status okay; about to open the data connection. */
  OpeningDataConnection: 150,
  /** 200: command okay. */
  Ok: 200,
  /** 202: command not implemented, superfluous here. */
  Superfluous: 202,
  /** 211: system status, or FEAT. */
  SystemStatus: 211,
  /** 212: directory status. */
  DirectoryStatus: 212,
  /** 213: file status (SIZE, MDTM, STAT of a file, HASH). */
  FileStatus: 213,
  /** 214: help message. */
  Help: 214,
  /** 215: system type (SYST). */
  SystemType: 215,
  /** 220: service ready (greeting, HOST accepted). */
  ServiceReady: 220,
  /** 221: closing the control connection (QUIT). */
  Goodbye: 221,
  /** 225: data connection open, no transfer in progress (ABOR without one). */
  DataConnectionIdle: 225,
  /** 226: closing the data connection; transfer or ABOR complete. */
  TransferComplete: 226,
  /** 227: entering passive mode (h1,h2,h3,h4,p1,p2). */
  EnteringPassiveMode: 227,
  /** 229: entering extended passive mode (|||port|). */
  EnteringExtendedPassiveMode: 229,
  /** 230: user logged in. */
  LoggedIn: 230,
  /** 234: security mechanism accepted (AUTH TLS). */
  SecurityAccepted: 234,
  /** 250: requested file action okay, completed. */
  FileActionOk: 250,
  /** 257: path created, or the current folder (PWD, MKD). */
  PathCreated: 257,
  /** 331: user name okay, need password. */
  NeedPassword: 331,
  /** 332: need account for login. */
  NeedAccount: 332,
  /** 350: requested file action pending further information (RNFR, REST). */
  PendingFurtherInformation: 350,
  /** 421: service not available, closing the control connection. */
  ServiceNotAvailable: 421,
  /** 425: can't open the data connection. */
  CantOpenDataConnection: 425,
  /** 426: connection closed; transfer aborted. */
  TransferAborted: 426,
  /** 450: requested file action not taken: file unavailable (busy). */
  FileBusy: 450,
  /** 451: requested action aborted: local error in processing. */
  LocalError: 451,
  /** 452: requested action not taken: insufficient storage space. */
  InsufficientStorage: 452,
  /** 500: syntax error, command unrecognized (or line too long). */
  SyntaxError: 500,
  /** 501: syntax error in parameters or arguments. */
  SyntaxErrorInArguments: 501,
  /** 502: command not implemented. */
  NotImplemented: 502,
  /** 503: bad sequence of commands. */
  BadSequence: 503,
  /** 504: command not implemented for that parameter. */
  NotImplementedForParameter: 504,
  /** 521: data connection must be protected (RFC 4217 §10). */
  ProtectionRequired: 521,
  /** 522: network protocol not supported (EPRT/EPSV), or TLS session reuse required. */
  NetworkProtocolNotSupported: 522,
  /** 530: not logged in. */
  NotLoggedIn: 530,
  /** 534: request denied for policy reasons. */
  DeniedForPolicy: 534,
  /** 536: requested PROT level not supported. */
  ProtectionLevelNotSupported: 536,
  /** 550: requested action not taken: file unavailable (not found, no access). */
  FileUnavailable: 550,
  /** 551: requested action aborted: page type unknown. */
  PageTypeUnknown: 551,
  /** 552: requested file action aborted: exceeded storage allocation. */
  ExceededStorageAllocation: 552,
  /** 553: requested action not taken: file name not allowed. */
  FileNameNotAllowed: 553,
  /** 554: requested action not taken: invalid REST parameter (RFC 3659). */
  InvalidRestParameter: 554,
} as const;

/** Any FTP reply code named in {@linkcode Reply}. */
export type ReplyCode = typeof Reply[keyof typeof Reply];

const encoder = new TextEncoder();

/** Replace characters that must never reach the control channel raw. */
export function sanitizeReplyText(text: string): string {
  return text.replace(/[\r\n\0]/g, " ");
}

/**
 * Format one reply. Text with several lines becomes an RFC 959 multi-line reply:
 * `code-first`, continuation lines, and `code last`. Continuation lines that
 * start with digits are indented with a space so clients cannot mistake them
 * for the last line.
 */
export function formatReply(code: number, text: string | readonly string[]): string {
  // A string may hold several lines; an array holds one line per element, so a
  // line break inside an element is a name's, never a reply line's.
  const lines = typeof text === "string"
    ? text.split("\n").map((line) => line.replace(/[\r\0]/g, " "))
    : text.map(sanitizeReplyText);
  if (lines.length === 1) return `${code} ${lines[0]}\r\n`;
  const last = lines.length - 1;
  let out = `${code}-${lines[0]}\r\n`;
  for (let i = 1; i < last; i++) {
    const line = lines[i];
    out += /^\d/.test(line) ? ` ${line}\r\n` : `${line}\r\n`;
  }
  out += `${code} ${lines[last]}\r\n`;
  return out;
}

/** {@linkcode formatReply} as UTF-8 bytes. */
export function encodeReply(code: number, text: string | readonly string[]): Uint8Array {
  return encoder.encode(formatReply(code, text));
}

/** Quote a path for 257 replies: `"` inside the name is doubled (RFC 959 appendix II). */
export function quotePath(path: string): string {
  return `"${sanitizeReplyText(path).replaceAll('"', '""')}"`;
}
