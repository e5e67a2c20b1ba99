import assert from "node:assert/strict";
import { AuthUnavailableError } from "../../src/auth/types.ts";
import { PassivePortsExhausted } from "../../src/data/passive.ts";
import {
  DataConnectionLost,
  DataTlsFailed,
  FtpError,
  replyForError,
  StorageError,
  type StorageErrorKind,
  TransferAbort,
} from "../../src/errors.ts";
import { Reply } from "../../src/replies.ts";

/** One error and the reply it gets outside a transfer (a command) and once 150 was sent. */
interface Case {
  name: string;
  error: unknown;
  outside: { code: number; text: string | RegExp };
  during: { code: number; text: string | RegExp };
}

const storage = (kind: StorageErrorKind, outside: number, during: number): Case => ({
  name: `StorageError ${kind}`,
  error: new StorageError(kind, `Storage said "${kind}"`),
  outside: { code: outside, text: `Storage said "${kind}"` },
  during: { code: during, text: `Transfer failed: Storage said "${kind}"` },
});

const localError = "Requested action aborted: local error in processing";
const transferLocalError = "Transfer failed: local error in processing";
const dataLost = "Data connection lost; transfer aborted";

const CASES: Case[] = [
  {
    name: "FtpError keeps its code and text before 150",
    error: new FtpError(Reply.FileNameNotAllowed, "Can't store over the root folder"),
    outside: { code: 553, text: "Can't store over the root folder" },
    during: { code: 451, text: "Transfer failed: Can't store over the root folder" },
  },
  {
    name: "FtpError 425 (no data connection)",
    error: new FtpError(Reply.CantOpenDataConnection, "Can't open data connection"),
    outside: { code: 425, text: "Can't open data connection" },
    during: { code: 425, text: "Can't open data connection" },
  },
  {
    name: "FtpError 522 (data connection did not reuse the TLS session)",
    error: new FtpError(Reply.NetworkProtocolNotSupported, "Data connection must reuse"),
    outside: { code: 522, text: "Data connection must reuse" },
    during: { code: 522, text: "Data connection must reuse" },
  },
  {
    name: "a subclass of FtpError (passive ports exhausted)",
    error: new PassivePortsExhausted(50000, 50001),
    outside: { code: 425, text: "No passive port available; try again later" },
    during: { code: 425, text: "No passive port available; try again later" },
  },
  storage("not_found", 550, 451),
  storage("already_exists", 550, 451),
  storage("permission_denied", 550, 451),
  storage("not_empty", 550, 451),
  storage("not_a_directory", 550, 451),
  storage("is_a_directory", 550, 451),
  storage("invalid_name", 553, 451),
  storage("storage_full", 452, 552),
  storage("io", 451, 451),
  {
    name: "TransferAbort (ABOR, stall, timeout, shutdown) keeps its 426",
    error: new TransferAbort(Reply.TransferAborted, "Transfer stalled: no data moved in time"),
    outside: { code: 426, text: "Transfer stalled: no data moved in time" },
    during: { code: 426, text: "Transfer stalled: no data moved in time" },
  },
  {
    name: "DataConnectionLost",
    error: new DataConnectionLost({ cause: new Deno.errors.ConnectionReset("reset") }),
    outside: { code: 451, text: localError },
    during: { code: 426, text: dataLost },
  },
  ...[
    new Deno.errors.ConnectionReset("reset"),
    new Deno.errors.ConnectionAborted("aborted"),
    new Deno.errors.BrokenPipe("broken"),
    new Deno.errors.UnexpectedEof("eof"),
    new Deno.errors.BadResource("closed"),
    new Deno.errors.Interrupted("interrupted"),
    new Deno.errors.NotConnected("not connected"),
  ].map((error): Case => ({
    name: `connection error ${error.name}`,
    error,
    outside: { code: 451, text: localError },
    during: { code: 426, text: dataLost },
  })),
  {
    name: "TLS negotiation failure on the data connection",
    error: new DataTlsFailed({ cause: new Error("handshake timed out") }),
    outside: { code: 425, text: "Can't open data connection: TLS negotiation failed" },
    during: { code: 425, text: "Can't open data connection: TLS negotiation failed" },
  },
  {
    name: "authentication backend outage",
    error: new AuthUnavailableError("https://auth.example/login: HTTP 503"),
    outside: { code: 421, text: /^Authentication service not available/ },
    during: { code: 451, text: "Transfer failed: authentication service not available" },
  },
  {
    name: "an unexpected Error (a bug)",
    error: new TypeError("x is undefined"),
    outside: { code: 451, text: localError },
    during: { code: 451, text: transferLocalError },
  },
  {
    name: "a thrown non-Error",
    error: "a string",
    outside: { code: 451, text: localError },
    during: { code: 451, text: transferLocalError },
  },
  {
    name: "an abort reason that is not a TransferAbort",
    error: new DOMException("The signal has been aborted", "AbortError"),
    outside: { code: 451, text: localError },
    during: { code: 451, text: transferLocalError },
  },
];

function assertReply(
  got: { code: number; text: string },
  want: { code: number; text: string | RegExp },
  what: string,
): void {
  assert.equal(got.code, want.code, what);
  if (typeof want.text === "string") assert.equal(got.text, want.text, what);
  else assert.match(got.text, want.text, what);
}

for (const { name, error, outside, during } of CASES) {
  Deno.test(`replyForError outside a transfer: ${name} → ${outside.code}`, () => {
    assertReply(replyForError(error), outside, name);
    assertReply(replyForError(error, false), outside, name);
  });
  Deno.test(`replyForError after 150: ${name} → ${during.code}`, () => {
    assertReply(replyForError(error, true), during, name);
  });
}

Deno.test("after 150 a failure is only ever 425, 426, 451, 552 (or 522: data TLS refused)", () => {
  const allowed = new Set<number>([
    Reply.CantOpenDataConnection,
    Reply.TransferAborted,
    Reply.LocalError,
    Reply.ExceededStorageAllocation,
    Reply.NetworkProtocolNotSupported,
  ]);
  const errors: unknown[] = [
    ...CASES.map((c) => c.error),
    // Every named code a handler could throw, and aborts with any code.
    ...Object.values(Reply).map((code) => new FtpError(code, `code ${code}`)),
    ...Object.values(Reply).map((code) => new TransferAbort(code, `code ${code}`)),
  ];
  for (const error of errors) {
    const { code } = replyForError(error, true);
    assert.ok(allowed.has(code), `${String(error)} → ${code} after 150`);
  }
});
