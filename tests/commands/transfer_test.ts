import assert from "node:assert/strict";
import net from "node:net";
import {
  FileStorage,
  MemoryStorage,
  type ReadOptions,
  type StorageConnector,
  StorageError,
} from "../../mod.ts";
import { commandHarness } from "../../src/testing/harness.ts";
import { CHECKSUMS_FOLDER } from "../../src/storage/file_checksums.ts";
import { randomBytes, sha256, startServer, waitFor } from "../helpers.ts";
import { test } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Connect from another loopback address (a "foreign" client). */
function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port, localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

test("RETR sends exactly the file's bytes and 226", async () => {
  await using ts = await startServer();
  const data = randomBytes(3 * 1024 * 1024 + 17);
  await Deno.writeFile(`${ts.root}/r.bin`, data);
  const client = await ts.client();
  await client.send("TYPE I");
  const { data: got, replies } = await client.download("RETR r.bin");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  assert.equal(got.length, data.length);
  assert.equal(await sha256(got), await sha256(data));
});

test("STOR stores every byte before 226, replacing the old file", async () => {
  await using ts = await startServer();
  await Deno.writeFile(`${ts.root}/s.bin`, text("old"));
  const data = randomBytes(2 * 1024 * 1024 + 3);
  const client = await ts.client();
  await client.send("TYPE I");
  const replies = await client.upload("STOR s.bin", data);
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  // 226 was sent: the file must already be complete.
  assert.equal(await sha256(await Deno.readFile(`${ts.root}/s.bin`)), await sha256(data));
  // Nothing but the file (and the server's reserved checksum records): no temporary file left.
  const names = [...Deno.readDirSync(ts.root)].map((e) => e.name);
  assert.deepEqual(names.filter((name) => name !== CHECKSUMS_FOLDER), ["s.bin"]);
});

test("TYPE A converts LF to CRLF on download and CRLF to LF on upload", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/t.txt`, "a\nb\r\nc\n");
  const h = ts.session();
  assert.equal((await h.run("TYPE A")).code, 200);
  const { data } = await h.transfer("RETR t.txt");
  assert.equal(new TextDecoder().decode(data), "a\r\nb\r\nc\r\n");
  await h.transfer("STOR u.txt", text("x\r\ny\r\n"));
  assert.equal(await Deno.readTextFile(`${ts.root}/u.txt`), "x\ny\n");
  assert.equal((await h.run("SIZE t.txt")).text, "7");
});

test("a transfer without PASV/PORT gets 425 and no 150", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "a");
  const h = ts.session();
  assert.equal((await h.run("RETR a.txt")).code, 425);
  assert.equal((await h.run("LIST")).code, 425);
  assert.equal((await h.run("STOR b.txt")).code, 425);
  assert.equal((await h.run("NOOP")).code, 200);
});

test("missing files and folders fail with 550 before any 150", async () => {
  await using ts = await folderHarness();
  await Deno.mkdir(`${ts.root}/d`);
  const h = ts.session();
  const missing = await h.transfer("RETR nope.txt");
  assert.deepEqual(missing.replies.map((r) => r.code), [550]);
  assert.deepEqual((await h.transfer("RETR d")).replies.map((r) => r.code), [550]);
  assert.deepEqual((await h.transfer("LIST nope")).replies.map((r) => r.code), [550]);
  assert.deepEqual((await h.transfer("STOR nodir/x", text("x"))).replies.map((r) => r.code), [553]);
  assert.deepEqual((await h.transfer("STOR d", text("x"))).replies.map((r) => r.code), [553]);
});

test("LIST and NLST: every flag form, a path, a file; dotfiles only with -a", async () => {
  await using ts = await folderHarness();
  await Deno.mkdir(`${ts.root}/sub`);
  await Deno.writeTextFile(`${ts.root}/sub/visible.txt`, "12345");
  await Deno.writeTextFile(`${ts.root}/sub/.hidden`, "h");
  await Deno.writeTextFile(`${ts.root}/top.txt`, "t");
  const h = ts.session();
  const names = async (command: string) => (await h.listing(command)).lines;

  assert.deepEqual((await names("NLST")).sort(), ["sub", "top.txt"]);
  assert.deepEqual((await names("NLST sub")).sort(), ["sub/visible.txt"]);
  assert.deepEqual((await names("NLST -a sub")).sort(), ["sub/.hidden", "sub/visible.txt"]);
  assert.deepEqual((await names("NLST /sub/")).sort(), ["/sub/visible.txt"]);
  assert.deepEqual(await names("NLST sub/visible.txt"), ["sub/visible.txt"]);
  const nlstLong = await names("NLST -l sub");
  assert.match(nlstLong[0], /^-rw-r--r-- 1 ftp ftp +5 \w{3} [ \d]\d \d\d:\d\d visible\.txt$/);

  for (
    const command of ["LIST sub", "LIST -l sub", "LIST -a sub", "LIST -la sub", "LIST -la /sub"]
  ) {
    const lines = await names(command);
    const hidden = command.includes("a ");
    assert.equal(lines.length, hidden ? 2 : 1, command);
    assert.ok(lines.some((l) => l.endsWith(" visible.txt")), command);
    assert.equal(lines.some((l) => l.endsWith(" .hidden")), hidden, command);
  }
  const root = await names("LIST");
  assert.ok(root.some((l) => /^d[rwx-]{9} .* sub$/.test(l)));
  const one = await names("LIST top.txt");
  assert.equal(one.length, 1);
  assert.match(one[0], / top\.txt$/);
});

test("PWD and MKD double quotes in names; DELE talks about a file", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  const mkd = await h.run('MKD a "q" b');
  assert.equal(mkd.code, 257);
  assert.equal(mkd.text, '"/a ""q"" b" created');
  assert.equal((await h.run('CWD a "q" b')).code, 250);
  assert.equal((await h.run("PWD")).text, '"/a ""q"" b" is the current directory');
  await h.transfer("STOR f.txt", text("x"));
  const dele = await h.run("DELE f.txt");
  assert.equal(dele.code, 250);
  assert.match(dele.text, /^File .* deleted$/);
  assert.equal((await h.run("DELE f.txt")).code, 550);
});

test("folders: MKD, CWD, CDUP, RMD of empty only, names with spaces and UTF-8", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("MKD dir with space")).code, 257);
  assert.equal((await h.run("MKD dir with space")).code, 550);
  assert.equal((await h.run("CWD dir with space")).code, 250);
  assert.equal((await h.run("MKD ünïcødé ✓")).code, 257);
  assert.equal((await h.run("CDUP")).code, 250);
  assert.equal((await h.run("PWD")).text, '"/" is the current directory');
  assert.equal((await h.run("RMD dir with space")).code, 550);
  assert.equal((await h.run("RMD dir with space/ünïcødé ✓")).code, 250);
  assert.equal((await h.run("RMD dir with space")).code, 250);
  assert.equal((await h.run("CWD missing")).code, 550);
  await Deno.writeTextFile(`${ts.root}/f`, "x");
  assert.equal((await h.run("CWD f")).code, 550);
  assert.equal((await h.run("RMD f")).code, 550);
});

test("names with CR or LF are refused with 553", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  // A NUL inside a line is the only way to smuggle such a byte through the line reader.
  assert.equal((await h.run("MKD a\0b")).code, 553);
});

test("SIZE answers for files only; RNFR/RNTO renames; RNTO without RNFR is 503", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "hello");
  await Deno.mkdir(`${ts.root}/dir`);
  await Deno.writeTextFile(`${ts.root}/dir.txt`, "x");
  const h = ts.session();
  const { code, lines, text } = await h.run("SIZE a.txt");
  assert.deepEqual({ code, lines, text }, { code: 213, lines: ["213 5"], text: "5" });
  assert.equal((await h.run("SIZE dir")).code, 550);
  assert.equal((await h.run("SIZE nope")).code, 550);
  assert.equal((await h.run("RNTO b.txt")).code, 503);
  assert.equal((await h.run("RNFR a.txt")).code, 350);
  assert.equal((await h.run("NOOP")).code, 200);
  assert.equal((await h.run("RNTO b.txt")).code, 503, "NOOP cleared the pending RNFR");
  assert.equal((await h.run("RNFR a.txt")).code, 350);
  assert.equal((await h.run("RNTO dir/b.txt")).code, 250);
  assert.equal(await Deno.readTextFile(`${ts.root}/dir/b.txt`), "hello");
  assert.equal((await h.run("RNFR nope")).code, 550);
});

test("traversal stays inside the root", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/in.txt`, "in");
  const h = ts.session();
  assert.equal((await h.run("CWD ../../..")).code, 250);
  assert.equal((await h.run("PWD")).text, '"/" is the current directory');
  assert.deepEqual((await h.transfer("RETR ../../../etc/passwd")).replies[0].code, 550);
  assert.equal((await h.run("SIZE ../in.txt")).text, "2");
  const listing = await h.listing("NLST ../..");
  assert.deepEqual(listing.lines, ["../../in.txt"]);
});

test("a symlink pointing outside the root is refused", async () => {
  const outside = await Deno.makeTempDir();
  await Deno.writeTextFile(`${outside}/secret.txt`, "secret");
  try {
    await using ts = await folderHarness();
    await Deno.symlink(outside, `${ts.root}/escape`);
    await Deno.symlink(`${outside}/secret.txt`, `${ts.root}/secret-link`);
    const h = ts.session();
    assert.equal((await h.transfer("RETR escape/secret.txt")).replies[0].code, 550);
    assert.equal((await h.transfer("RETR secret-link")).replies[0].code, 550);
    assert.equal((await h.run("CWD escape")).code, 550);
    assert.equal((await h.transfer("STOR escape/new.txt", text("x"))).replies[0].code, 550);
    assert.equal((await h.run("SIZE secret-link")).code, 550);
    assert.deepEqual((await h.listing("NLST")).lines, []);
    // An upload over the link must neither write through it nor start.
    assert.deepEqual(
      (await h.transfer("STOR secret-link", text("mine"))).replies.map((r) => r.code),
      [550],
    );
    assert.deepEqual(
      (await h.transfer("APPE secret-link", text("mine"))).replies.map((r) => r.code),
      [550],
    );
    assert.equal(await Deno.readTextFile(`${outside}/secret.txt`), "secret");
    assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["secret.txt"]);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

test("a second PASV closes the first listener", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  const first = await client.send("EPSV");
  const port = Number(/\|\|\|(\d+)\|/.exec(first.text)![1]);
  assert.equal((await client.send("EPSV")).code, 229);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});

test("PASV replies 227 with the numeric address; an exhausted range is 425", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await using ts = await startServer({ minPassivePort: port, maxPassivePort: port });
  const a = await ts.client();
  const reply = await a.send("PASV");
  assert.equal(reply.code, 227);
  assert.equal(
    reply.text,
    `Entering Passive Mode (127,0,0,1,${port >> 8},${port & 255}).`,
  );
  const b = await ts.client();
  assert.equal((await b.send("PASV")).code, 425);
  assert.equal((await b.send("NOOP")).code, 200);
});

test("passive_address is advertised in 227", async () => {
  await using ts = await folderHarness({ passiveAddress: "10.1.2.3" });
  const h = ts.session();
  assert.match((await h.run("PASV")).text, /^Entering Passive Mode \(10,1,2,3,\d+,\d+\)\.$/);
});

test("a passive connection from a foreign address is closed; the client still connects", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "payload");
  const client = await ts.client();
  await client.send("TYPE I");
  const reply = await client.send("EPSV");
  const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
  const foreign = await connectFrom("127.0.0.2", port);
  const foreignClosed = new Promise<void>((resolve) => foreign.once("close", () => resolve()));
  foreign.resume();
  assert.equal((await client.send("RETR a.txt")).code, 150);
  await foreignClosed;
  const data = await Deno.connect({ hostname: "127.0.0.1", port });
  const got = await new Response(data.readable).text();
  assert.equal(got, "payload");
  assert.equal((await client.read()).code, 226);
});

test("PORT and EPRT only to the client's own address and ports >= 1024", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("PORT 10,0,0,1,200,10")).code, 500);
  assert.equal((await h.run("PORT 127,0,0,1,0,21")).code, 504);
  assert.equal((await h.run("PORT 127,0,0,1,300,1")).code, 501);
  assert.equal((await h.run("PORT junk")).code, 501);
  assert.equal((await h.run("EPRT |1|10.0.0.1|5000|")).code, 500);
  assert.equal((await h.run("EPRT |1|127.0.0.1|80|")).code, 504);
  assert.equal((await h.run("EPRT |3|127.0.0.1|5000|")).code, 522);
  assert.equal((await h.run("EPRT |1|127.0.0.1|")).code, 501);
  assert.equal((await h.run("EPRT !1!127.0.0.1!5000!")).code, 200);
  assert.equal((await h.run("PORT 127,0,0,1,19,136")).code, 200);
});

test("active mode (PORT) transfers data to the client", async () => {
  await using ts = await startServer();
  const data = randomBytes(500_000);
  await Deno.writeFile(`${ts.root}/a.bin`, data);
  const client = await ts.client();
  await client.send("TYPE I");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  assert.equal((await client.send(`PORT 127,0,0,1,${port >> 8},${port & 255}`)).code, 200);
  assert.equal((await client.send("RETR a.bin")).code, 150);
  const conn = await listener.accept();
  listener.close();
  const got = new Uint8Array(await new Response(conn.readable).arrayBuffer());
  assert.equal((await client.read()).code, 226);
  assert.equal(await sha256(got), await sha256(data));
});

test("EPSV on IPv6 works; EPSV 1 there is 522 and PASV is refused", async (t) => {
  let ts;
  try {
    ts = await startServer({ hostname: "::1" });
  } catch {
    t.name; // no IPv6 loopback here
    return;
  }
  await using _ = ts;
  await Deno.writeTextFile(`${ts.root}/six.txt`, "v6");
  const client = await ts.client();
  assert.equal((await client.send("PASV")).code, 522);
  assert.equal((await client.send("EPSV 1")).text, "Network protocol not supported, use (2)");
  await client.send("TYPE I");
  const { data, replies } = await client.download("RETR six.txt");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  assert.equal(new TextDecoder().decode(data), "v6");
});

test("a client that vanishes mid-upload leaves the old file and no temp file", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/keep.txt`, "previous");
  const failed = Promise.withResolvers<string>();
  ts.server.addEventListener("transfer-failed", (e) => failed.resolve(e.detail.command));
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("STOR keep.txt")).code, 150);
  await data.write(randomBytes(100_000));
  await waitFor(() => {
    const names = [...Deno.readDirSync(ts.root)].map((e) => e.name);
    return names.some((n) => n.startsWith(".exftp-upload-"));
  });
  // The control connection goes away while data still flows: the upload must not be kept.
  // (The data connection is closed only afterwards: when a client closes both at once, the
  // server may see the data connection's end first, and that is a complete upload.)
  client.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    failed.promise,
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("no failure in 5 s"), 5000)),
  ]);
  clearTimeout(timer);
  data.close();
  assert.equal(outcome, "STOR");
  assert.equal(await Deno.readTextFile(`${ts.root}/keep.txt`), "previous");
  await waitFor(() => [...Deno.readDirSync(ts.root)].length === 1, 5000, "temp file removal");
});

test("a reset data connection fails the upload with 426 and keeps the old file", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/keep.txt`, "previous");
  const client = await ts.client();
  await client.send("TYPE I");
  const reply = await client.send("EPSV");
  const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
  const socket = await new Promise<net.Socket>((resolve) => {
    const s = net.createConnection({ host: "127.0.0.1", port }, () => resolve(s));
  });
  assert.equal((await client.send("STOR keep.txt")).code, 150);
  await new Promise<void>((resolve) => socket.write(randomBytes(50_000), () => resolve()));
  socket.resetAndDestroy();
  assert.equal((await client.read()).code, 426);
  assert.equal(await Deno.readTextFile(`${ts.root}/keep.txt`), "previous");
  assert.deepEqual([...Deno.readDirSync(ts.root)].map((e) => e.name), ["keep.txt"]);
  assert.equal((await client.send("NOOP")).code, 200);
});

test("a storage failure mid-upload is 451, never 226", async () => {
  await using ts = await folderHarness();
  const inner = new FileStorage({ root: ts.root });
  const broken: StorageConnector = {
    stat: (p) => inner.stat(p),
    list: (p) => inner.list(p),
    read: (p, o) => inner.read(p, o),
    mkdir: (p) => inner.mkdir(p),
    rmdir: (p) => inner.rmdir(p),
    remove: (p) => inner.remove(p),
    rename: (a, b) => inner.rename(a, b),
    async write(_path, source) {
      const reader = source.getReader();
      await reader.read();
      reader.releaseLock();
      throw new StorageError("io", "disk on fire");
    },
  };
  await using ts2 = await folderHarness({ storage: broken });
  const h = ts2.session();
  const { replies } = await h.transfer("STOR x.bin", randomBytes(10_000));
  assert.deepEqual(replies.map((r) => r.code), [150, 451]);
  assert.equal((await h.run("NOOP")).code, 200);
});

test("the passive accept timeout gives 425 after 150", async () => {
  await using ts = await startServer({ passiveAcceptTimeoutMs: 100 });
  await Deno.writeTextFile(`${ts.root}/a.txt`, "a");
  const client = await ts.client();
  await client.send("EPSV");
  assert.equal((await client.send("RETR a.txt")).code, 150);
  assert.equal((await client.read()).code, 425);
});

test("ABOR during a download: 426 then 226, and the session goes on", async () => {
  await using ts = await startServer();
  await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(32 * 1024 * 1024));
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("RETR big.bin")).code, 150);
  const buffer = new Uint8Array(1024);
  await data.read(buffer); // the transfer is running; stop reading to keep it blocked
  const abor = await client.send("ABOR");
  const second = await client.read();
  assert.deepEqual([abor.code, second.code], [426, 226]);
  data.close();
  assert.equal((await client.send("NOOP")).code, 200);
});

test("STAT during a transfer reports progress; other commands wait", async () => {
  await using ts = await startServer();
  await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(16 * 1024 * 1024));
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("RETR big.bin")).code, 150);
  await data.read(new Uint8Array(1024));
  const stat = await client.send("STAT");
  assert.equal(stat.code, 213);
  assert.match(stat.lines.join("\n"), /RETR \/big\.bin/);
  await client.write("NOOP\r\n");
  const received = (await new Response(data.readable).arrayBuffer()).byteLength;
  assert.equal(received, 16 * 1024 * 1024 - 1024);
  assert.equal((await client.read()).code, 226);
  assert.equal((await client.read()).code, 200);
});

test("QUIT during an upload lets it finish, then 226 and 221", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("STOR q.bin")).code, 150);
  const payload = randomBytes(1_000_000);
  await data.write(payload.subarray(0, 500_000));
  await client.write("QUIT\r\n");
  let offset = 500_000;
  while (offset < payload.length) offset += await data.write(payload.subarray(offset));
  data.close();
  assert.equal((await client.read()).code, 226);
  assert.equal((await client.read()).code, 221);
  assert.equal(await sha256(await Deno.readFile(`${ts.root}/q.bin`)), await sha256(payload));
});

test("transfer events report path, bytes and outcome after storage", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  await h.run("TYPE I");
  await h.transfer("STOR e.bin", randomBytes(1234));
  await h.transfer("RETR e.bin");
  await h.run("DELE e.bin");
  const events = h.events.flatMap(({ type, detail: d }) =>
    type === "transfer-complete" && "command" in d
      ? [`${d.command} ${d.path} ${d.bytes} ${d.outcome}`]
      : []
  );
  assert.deepEqual(events, ["STOR /e.bin 1234 ok", "RETR /e.bin 1234 ok", "DELE /e.bin 0 ok"]);
});

test("close() lets a running upload finish, then refuses new connections", async () => {
  const ts = await startServer();
  try {
    const client = await ts.client();
    await client.send("TYPE I");
    const data = await client.passive();
    assert.equal((await client.send("STOR g.bin")).code, 150);
    await data.write(randomBytes(1000));
    const closing = ts.server.close();
    await assert.rejects(
      Deno.connect(ts.addr).then((c) => {
        c.close();
        throw new Error("still accepting");
      }),
    );
    await data.write(randomBytes(1000));
    data.close();
    assert.equal((await client.read()).code, 226);
    assert.equal((await client.read()).code, 421);
    await closing;
    assert.equal((await Deno.stat(`${ts.root}/g.bin`)).size, 2000);
  } finally {
    await ts[Symbol.asyncDispose]();
  }
});

test("RETR hands the connector a read signal that is aborted when the transfer is cut short", async () => {
  const signals: (AbortSignal | undefined)[] = [];
  const storage = new class extends MemoryStorage {
    override read(path: string, options?: ReadOptions) {
      signals.push(options?.signal);
      return super.read(path, options);
    }
  }();
  await storage.write("/a.txt", new Blob(["payload"]).stream());
  await using h = commandHarness({
    storage,
    user: "alice",
    options: { passiveAcceptTimeoutMs: 50 },
  });
  await h.run("EPSV");
  await h.write("RETR a.txt\r\n");
  assert.equal((await h.read()).code, 150);
  assert.equal((await h.read()).code, 425, "the client never connected");
  assert.equal(signals.length, 1);
  assert.equal(signals[0]?.aborted, true);
  assert.equal(new TextDecoder().decode((await h.transfer("RETR a.txt")).data), "payload");
});
