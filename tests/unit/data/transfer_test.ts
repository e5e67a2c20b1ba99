import assert from "node:assert/strict";
import type { DataSetup } from "../../../src/data/channel.ts";
import { writeAll } from "../../../src/data/connection.ts";
import { PassiveListener } from "../../../src/data/passive.ts";
import { receiveStream, sendStream } from "../../../src/data/streams.ts";
import {
  runTransfer,
  type RunTransferOptions,
  TransferProgress,
  type TransferRequest,
} from "../../../src/data/transfer.ts";
import { StorageError, TransferAbort } from "../../../src/errors.ts";
import { Reply } from "../../../src/replies.ts";
import { randomBytes } from "../../helpers.ts";

const HOST = "127.0.0.1";
const OPTIONS: RunTransferOptions = { channel: { timeoutMs: 2000 }, stallTimeoutMs: 5000 };

/** A client's side of an active-mode data connection: the server connects to it. */
function activeClient(): { setup: DataSetup; accepted: Promise<Deno.TcpConn> } & Disposable {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  accepted.catch(() => {}); // a test that fails early closes the listener first
  return {
    setup: { kind: "active", hostname: HOST, port: listener.addr.port },
    accepted,
    [Symbol.dispose]: () => listener.close(),
  };
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  return new Uint8Array(await new Response(conn.readable).arrayBuffer());
}

function request(
  run: TransferRequest["run"],
  released: { count: number },
): TransferRequest {
  return {
    command: "RETR",
    kind: "download",
    path: "/a.bin",
    openingText: "Opening",
    run,
    release: () => void released.count++,
  };
}

Deno.test("runTransfer moves the data, closes the connection and ends with 226 and the byte count", async () => {
  using client = activeClient();
  const released = { count: 0 };
  const bytes = randomBytes(300_000);
  const progress = new TransferProgress();
  const transfer = runTransfer(
    request(
      (connection, signal, progress) =>
        sendStream(
          new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
          connection,
          signal,
          progress,
        ),
      released,
    ),
    client.setup,
    new AbortController(),
    progress,
    OPTIONS,
  );
  const received = readAll(await client.accepted);
  const result = await transfer;
  assert.deepEqual(result.reply, {
    code: Reply.TransferComplete,
    text: "Transfer complete (300000 bytes)",
  });
  assert.equal(result.outcome, "ok");
  assert.equal(result.failure, undefined);
  assert.deepEqual(await received, bytes);
  assert.equal(progress.bytes, bytes.length);
  assert.equal(released.count, 1);
});

Deno.test("runTransfer: a run that moves nothing is aborted by the stall watchdog with 426", async () => {
  using client = activeClient();
  const released = { count: 0 };
  const result = runTransfer(
    request(async (connection) => {
      // Waits for an upload byte that never comes; the watchdog's abort closes the connection.
      await receiveStream(connection, new TransferProgress()).getReader().read();
      return 0;
    }, released),
    client.setup,
    new AbortController(),
    new TransferProgress(),
    { ...OPTIONS, stallTimeoutMs: 50 },
  );
  using conn = await client.accepted;
  const outcome = await result;
  assert.equal(outcome.outcome, "aborted");
  assert.deepEqual(outcome.reply, {
    code: Reply.TransferAborted,
    text: "Transfer stalled: no data moved in time",
  });
  assert.ok(outcome.failure instanceof TransferAbort);
  assert.equal(released.count, 1);
  assert.equal(await conn.read(new Uint8Array(1)), null, "the data connection is closed");
});

Deno.test("runTransfer: ABOR (an abort with a TransferAbort) ends a blocked transfer with its reply", async () => {
  using client = activeClient();
  const released = { count: 0 };
  const controller = new AbortController();
  let running!: () => void;
  const started = new Promise<void>((resolve) => running = resolve);
  const result = runTransfer(
    request(async (connection) => {
      running();
      await connection.read(new Uint8Array(1));
      return 0;
    }, released),
    client.setup,
    controller,
    new TransferProgress(),
    OPTIONS,
  );
  using _conn = await client.accepted;
  await started;
  controller.abort(new TransferAbort(Reply.TransferAborted, "Transfer aborted"));
  const outcome = await result;
  assert.equal(outcome.outcome, "aborted");
  assert.deepEqual(outcome.reply, { code: 426, text: "Transfer aborted" });
  assert.equal(released.count, 1);
});

Deno.test("runTransfer: failures of the run become the transfer replies of replyForError", async (t) => {
  const cases: [string, unknown, number, string][] = [
    ["storage io", new StorageError("io", "disk"), 451, "Transfer failed: disk"],
    ["storage full", new StorageError("storage_full", "quota"), 552, "Transfer failed: quota"],
    [
      "a reset",
      new Deno.errors.ConnectionReset("rst"),
      426,
      "Data connection lost; transfer aborted",
    ],
    ["a bug", new TypeError("oops"), 451, "Transfer failed: local error in processing"],
  ];
  for (const [name, error, code, text] of cases) {
    await t.step(`${name} → ${code}`, async () => {
      using client = activeClient();
      const released = { count: 0 };
      const result = runTransfer(
        request(() => Promise.reject(error), released),
        client.setup,
        new AbortController(),
        new TransferProgress(),
        OPTIONS,
      );
      using _conn = await client.accepted;
      const outcome = await result;
      assert.equal(outcome.outcome, "failed");
      assert.deepEqual(outcome.reply, { code, text });
      assert.equal(outcome.failure, error);
      assert.equal(released.count, 1);
    });
  }
});

Deno.test("runTransfer: no data connection (active port refused) is 425 and the run never starts", async () => {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  listener.close();
  const released = { count: 0 };
  let ran = false;
  const outcome = await runTransfer(
    request(() => {
      ran = true;
      return Promise.resolve(0);
    }, released),
    { kind: "active", hostname: HOST, port },
    new AbortController(),
    new TransferProgress(),
    OPTIONS,
  );
  assert.equal(outcome.outcome, "failed");
  assert.deepEqual(outcome.reply, { code: 425, text: "Can't open data connection" });
  assert.equal(ran, false);
  assert.equal(released.count, 1);
});

Deno.test("runTransfer: an abort while waiting for the passive connection closes the listener", async () => {
  const listener = new PassiveListener(Deno.listen({ hostname: HOST, port: 0 }), HOST);
  const controller = new AbortController();
  const released = { count: 0 };
  const result = runTransfer(
    request(() => Promise.resolve(0), released),
    { kind: "passive", listener },
    controller,
    new TransferProgress(),
    OPTIONS,
  );
  controller.abort(
    new TransferAbort(Reply.TransferAborted, "Transfer aborted: server shutting down"),
  );
  const outcome = await result;
  assert.equal(outcome.outcome, "aborted");
  assert.deepEqual(outcome.reply, { code: 426, text: "Transfer aborted: server shutting down" });
  assert.equal(released.count, 1);
  await assert.rejects(Deno.connect({ hostname: HOST, port: listener.port }));
});

Deno.test("runTransfer over a passive connection writes what the run writes", async () => {
  const listener = new PassiveListener(Deno.listen({ hostname: HOST, port: 0 }), HOST);
  const released = { count: 0 };
  const result = runTransfer(
    request(async (connection, _signal, progress) => {
      await writeAll(connection, new TextEncoder().encode("a.txt\r\n"));
      progress.add(7);
      return 7;
    }, released),
    { kind: "passive", listener },
    new AbortController(),
    new TransferProgress(),
    OPTIONS,
  );
  const conn = await Deno.connect({ hostname: HOST, port: listener.port });
  const text = new TextDecoder().decode(await readAll(conn));
  assert.equal(text, "a.txt\r\n");
  assert.deepEqual((await result).reply, { code: 226, text: "Transfer complete (7 bytes)" });
});
