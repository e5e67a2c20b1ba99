import assert from "node:assert/strict";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { randomBytes, sha256, startServer } from "../helpers.ts";
import { test } from "../deadline.ts";

const text = (s: string) => new TextEncoder().encode(s);

test("FEAT is generated from the table and lists MLST facts, MFMT, TVFS", async () => {
  await using ts = await startServer();
  using client = await RawFtpClient.connect(ts.addr);
  const feat = (await client.send("FEAT")).lines;
  assert.ok(feat.includes(" MLST type*;size*;modify*;perm*;unix.mode*;"));
  for (const f of [" MFMT", " TVFS", " CLNT", " MDTM", " REST STREAM"]) {
    assert.ok(feat.includes(f), f);
  }
  assert.ok(!feat.some((l) => l.startsWith(" HOST")), "HOST selects nothing here");
});

test("MLSD lists facts then one space then the name; MLSD of a file is 501", async () => {
  await using ts = await startServer();
  await Deno.mkdir(`${ts.root}/d`);
  await Deno.writeTextFile(`${ts.root}/d/f one.txt`, "12345");
  await Deno.mkdir(`${ts.root}/d/inner`);
  await Deno.utime(
    `${ts.root}/d/f one.txt`,
    new Date("2026-01-02T03:04:05Z"),
    new Date("2026-01-02T03:04:05Z"),
  );
  const client = await ts.client();
  const { lines, replies } = await client.listing("MLSD d");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  const file = lines.find((l) => l.endsWith(" f one.txt"));
  assert.equal(file, "type=file;size=5;modify=20260102030405;perm=adfrw;unix.mode=0644; f one.txt");
  assert.match(
    lines.find((l) => l.endsWith(" inner"))!,
    /^type=dir;modify=\d{14};perm=cdeflmp;unix\.mode=0\d+; inner$/,
  );
  assert.equal((await client.send("MLSD d/f one.txt")).code, 501);
});

test("MLST answers on the control connection with the full path; OPTS MLST selects facts", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "abc");
  const client = await ts.client();
  const mlst = await client.send("MLST a.txt");
  assert.equal(mlst.code, 250);
  assert.equal(mlst.lines.length, 3);
  assert.match(
    mlst.lines[1],
    /^ type=file;size=3;modify=\d{14};perm=adfrw;unix\.mode=0644; \/a\.txt$/,
  );
  assert.equal(mlst.lines[2], "250 End");
  assert.equal((await client.send("OPTS MLST type;size;bogus;")).text, "MLST OPTS type;size;");
  assert.equal((await client.send("MLST a.txt")).lines[1], " type=file;size=3; /a.txt");
  assert.ok((await client.send("FEAT")).lines.includes(" MLST type*;size*;modify;perm;unix.mode;"));
  assert.equal((await client.send("MLST missing")).code, 550);
});

test("MDTM and MFMT read and set the modification time in UTC", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "abc");
  const client = await ts.client();
  assert.deepEqual(await client.send("MFMT 20200229235958 a.txt"), {
    code: 213,
    lines: ["213 Modify=20200229235958; /a.txt"],
    text: "Modify=20200229235958; /a.txt",
  });
  assert.equal((await client.send("MDTM a.txt")).text, "20200229235958");
  assert.equal(
    (await Deno.stat(`${ts.root}/a.txt`)).mtime?.toISOString(),
    "2020-02-29T23:59:58.000Z",
  );
  assert.equal((await client.send("MFMT 20210230000000 a.txt")).code, 501);
  assert.equal((await client.send("MFMT 2021 a.txt")).code, 501);
  assert.equal((await client.send("MFMT 20210101000000 nope")).code, 550);
  assert.equal((await client.send("MDTM nope")).code, 550);
});

test("REST + RETR resumes a download; an offset past the end is 554; REST in TYPE A is 501", async () => {
  await using ts = await startServer();
  const data = randomBytes(100_000);
  await Deno.writeFile(`${ts.root}/r.bin`, data);
  const client = await ts.client();
  assert.equal((await client.send("REST 10")).code, 501, "TYPE A");
  await client.send("TYPE I");
  assert.equal((await client.send("REST 40000")).code, 350);
  await client.send("EPSV"); // REST survives PASV/EPSV
  const { data: tail } = await client.download("RETR r.bin");
  assert.equal(await sha256(tail), await sha256(data.subarray(40000)));
  assert.equal((await client.send("REST 100001")).code, 350);
  assert.deepEqual((await client.download("RETR r.bin")).replies.map((r) => r.code), [554]);
  assert.equal((await client.send("REST -1")).code, 501);
  assert.equal((await client.send("REST abc")).code, 501);
});

test("REST + STOR writes from the offset and drops what followed; APPE appends", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/f.txt`, "0123456789");
  const client = await ts.client();
  await client.send("TYPE I");
  await client.send("REST 4");
  assert.equal((await client.upload("STOR f.txt", text("ab"))).at(-1)?.code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/f.txt`), "0123ab");
  assert.equal((await client.upload("APPE f.txt", text("XY"))).at(-1)?.code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/f.txt`), "0123abXY");
  assert.equal((await client.upload("APPE new.txt", text("n"))).at(-1)?.code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/new.txt`), "n");
  await client.send("REST 2");
  assert.equal((await client.upload("APPE f.txt", text("z")))[0].code, 503);
  await client.send("REST 2");
  assert.equal((await client.upload("STOU", text("z")))[0].code, 503);
});

test("STOU stores under a fresh name given in 150 FILE:", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/up.txt`, "existing");
  const client = await ts.client();
  await client.send("TYPE I");
  const first = await client.upload("STOU up.txt", text("one"));
  assert.equal(first[0].text, "FILE: up.txt.1");
  assert.equal(first[1].code, 226);
  const second = await client.upload("STOU", text("two"));
  const name = /^FILE: (.+)$/.exec(second[0].text)![1];
  assert.equal(await Deno.readTextFile(`${ts.root}/${name}`), "two");
  assert.equal(await Deno.readTextFile(`${ts.root}/up.txt`), "existing");
  assert.equal(await Deno.readTextFile(`${ts.root}/up.txt.1`), "one");
});

test("concurrent STOU from two sessions never shares a name", async () => {
  await using ts = await startServer();
  const clients = await Promise.all([ts.client(), ts.client(), ts.client()]);
  const names = await Promise.all(clients.map(async (c, i) => {
    await c.send("TYPE I");
    const replies = await c.upload("STOU same.txt", text(`from ${i}`));
    return replies[0].text;
  }));
  assert.equal(new Set(names).size, 3);
});

test("EPSV ALL refuses PASV, PORT and EPRT afterwards", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  assert.equal((await client.send("EPSV ALL")).code, 200);
  assert.equal((await client.send("PASV")).code, 503);
  assert.equal((await client.send("PORT 127,0,0,1,20,0")).code, 503);
  assert.equal((await client.send("EPRT |1|127.0.0.1|5000|")).code, 503);
  assert.equal((await client.send("EPSV")).code, 229);
  assert.equal((await client.send("EPSV 3")).code, 522); // RFC 2428: unsupported protocol
});

test("HOST before login is 220, after login 503", async () => {
  await using ts = await startServer();
  using client = await RawFtpClient.connect(ts.addr);
  assert.equal((await client.send("HOST ftp.example.com")).code, 220);
  assert.equal((await client.send("HOST bad host!")).code, 501);
  await client.login();
  assert.equal((await client.send("HOST ftp.example.com")).code, 503);
});

test("SITE HELP and SITE CHMOD", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/x.sh`, "#!/bin/sh");
  const client = await ts.client();
  const help = await client.send("SITE HELP");
  assert.equal(help.code, 214);
  assert.ok(help.lines.some((l) => l.includes("SITE CHMOD")));
  assert.equal((await client.send("SITE CHMOD 755 x.sh")).code, 200);
  assert.equal((await Deno.stat(`${ts.root}/x.sh`)).mode! & 0o777, 0o755);
  assert.equal((await client.send("SITE CHMOD 9 x.sh")).code, 501);
  assert.equal((await client.send("SITE CHMOD 644 nope")).code, 550);
  assert.equal((await client.send("SITE EXEC rm")).code, 504);
});

test("HELP lists every command and explains one", async () => {
  await using ts = await startServer();
  using client = await RawFtpClient.connect(ts.addr);
  const help = await client.send("HELP");
  assert.equal(help.code, 214);
  for (const verb of ["RETR", "MLSD", "XPWD", "EPSV"]) {
    assert.match(help.lines.join(" "), new RegExp(`\\b${verb}\\b`));
  }
  assert.equal(
    (await client.send("HELP retr")).text,
    "Syntax: RETR <path> (Download a file (from the REST offset, if any))",
  );
  assert.equal((await client.send("HELP NOPE")).code, 502);
});

test("STAT alone gives status; STAT with a path lists over the control connection", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/s.txt`, "s");
  await Deno.writeTextFile(`${ts.root}/.h`, "h");
  const client = await ts.client("sam");
  const status = await client.send("STAT");
  assert.equal(status.code, 211);
  assert.ok(status.lines.some((l) => l.includes("Logged in as sam")));
  const listing = await client.send("STAT -a /");
  assert.equal(listing.code, 213);
  assert.ok(listing.lines.some((l) => / s\.txt$/.test(l)));
  assert.ok(listing.lines.some((l) => / \.h$/.test(l)));
  assert.equal((await client.send("STAT nope")).code, 550);
});

test("X-aliases behave like their commands", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  assert.equal((await client.send("XMKD x")).code, 257);
  assert.equal((await client.send("XCWD x")).code, 250);
  assert.equal((await client.send("XPWD")).text, '"/x" is the current directory');
  assert.equal((await client.send("XCUP")).code, 250);
  assert.equal((await client.send("XRMD x")).code, 250);
});

test("ABOR with no transfer is 225, and closes a pending PASV", async () => {
  await using ts = await startServer();
  const client = await ts.client();
  assert.equal((await client.send("ABOR")).code, 225);
  const reply = await client.send("EPSV");
  const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
  assert.equal((await client.send("ABOR")).code, 225);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});

test("a data stall fails the transfer with 426", async () => {
  await using ts = await startServer({ dataStallTimeoutMs: 150 });
  const client = await ts.client();
  await client.send("TYPE I");
  const data = await client.passive();
  assert.equal((await client.send("STOR stall.bin")).code, 150);
  await data.write(randomBytes(10));
  const reply = await client.read();
  assert.equal(reply.code, 426);
  assert.match(reply.text, /stalled/);
  data.close();
  assert.deepEqual([...Deno.readDirSync(ts.root)], []);
});

test("an upload with fewer bytes than ALLO announced is not stored", async () => {
  await using ts = await startServer();
  await Deno.writeTextFile(`${ts.root}/a.bin`, "old");
  const client = await ts.client();
  await client.send("TYPE I");
  assert.equal((await client.send("ALLO 1000")).code, 202);
  assert.deepEqual((await client.upload("STOR a.bin", randomBytes(999))).map((r) => r.code), [
    150,
    426,
  ]);
  assert.equal(await Deno.readTextFile(`${ts.root}/a.bin`), "old");
  assert.equal((await client.send("ALLO 10")).code, 202);
  assert.deepEqual((await client.upload("STOR a.bin", randomBytes(10))).map((r) => r.code), [
    150,
    226,
  ]);
  assert.equal((await client.send("ALLO x")).code, 501);
});
