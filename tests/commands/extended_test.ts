import assert from "node:assert/strict";
import { randomBytes, sha256, startServer } from "../helpers.ts";
import { test } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

const text = (s: string) => new TextEncoder().encode(s);

test("FEAT is generated from the table and lists MLST facts, MFMT, TVFS", async () => {
  await using ts = await folderHarness();
  const h = ts.session(null);
  const feat = (await h.run("FEAT")).lines;
  assert.ok(feat.includes(" MLST type*;size*;modify*;perm*;unix.mode*;"));
  for (const f of [" MFMT", " TVFS", " CLNT", " MDTM", " REST STREAM"]) {
    assert.ok(feat.includes(f), f);
  }
  assert.ok(!feat.some((l) => l.startsWith(" HOST")), "HOST selects nothing here");
});

test("MLSD lists facts then one space then the name; MLSD of a file is 501", async () => {
  await using ts = await folderHarness();
  await Deno.mkdir(`${ts.root}/d`);
  await Deno.writeTextFile(`${ts.root}/d/f one.txt`, "12345");
  await Deno.mkdir(`${ts.root}/d/inner`);
  await Deno.utime(
    `${ts.root}/d/f one.txt`,
    new Date("2026-01-02T03:04:05Z"),
    new Date("2026-01-02T03:04:05Z"),
  );
  const h = ts.session();
  const { lines, replies } = await h.listing("MLSD d");
  assert.deepEqual(replies.map((r) => r.code), [150, 226]);
  const file = lines.find((l) => l.endsWith(" f one.txt"));
  assert.equal(file, "type=file;size=5;modify=20260102030405;perm=adfrw;unix.mode=0644; f one.txt");
  assert.match(
    lines.find((l) => l.endsWith(" inner"))!,
    /^type=dir;modify=\d{14};perm=cdeflmp;unix\.mode=0\d+; inner$/,
  );
  assert.equal((await h.run("MLSD d/f one.txt")).code, 501);
});

test("MLST answers on the control connection with the full path; OPTS MLST selects facts", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "abc");
  const h = ts.session();
  const mlst = await h.run("MLST a.txt");
  assert.equal(mlst.code, 250);
  assert.equal(mlst.lines.length, 3);
  assert.match(
    mlst.lines[1],
    /^ type=file;size=3;modify=\d{14};perm=adfrw;unix\.mode=0644; \/a\.txt$/,
  );
  assert.equal(mlst.lines[2], "250 End");
  assert.equal((await h.run("OPTS MLST type;size;bogus;")).text, "MLST OPTS type;size;");
  assert.equal((await h.run("MLST a.txt")).lines[1], " type=file;size=3; /a.txt");
  assert.ok((await h.run("FEAT")).lines.includes(" MLST type*;size*;modify;perm;unix.mode;"));
  assert.equal((await h.run("MLST missing")).code, 550);
});

test("MDTM and MFMT read and set the modification time in UTC", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.txt`, "abc");
  const h = ts.session();
  const { code, lines, text } = await h.run("MFMT 20200229235958 a.txt");
  assert.deepEqual({ code, lines, text }, {
    code: 213,
    lines: ["213 Modify=20200229235958; /a.txt"],
    text: "Modify=20200229235958; /a.txt",
  });
  assert.equal((await h.run("MDTM a.txt")).text, "20200229235958");
  assert.equal(
    (await Deno.stat(`${ts.root}/a.txt`)).mtime?.toISOString(),
    "2020-02-29T23:59:58.000Z",
  );
  assert.equal((await h.run("MFMT 20210230000000 a.txt")).code, 501);
  assert.equal((await h.run("MFMT 2021 a.txt")).code, 501);
  assert.equal((await h.run("MFMT 20210101000000 nope")).code, 550);
  assert.equal((await h.run("MDTM nope")).code, 550);
});

test("REST + RETR resumes a download; an offset past the end is 554; REST in TYPE A is 501", async () => {
  await using ts = await folderHarness();
  const data = randomBytes(100_000);
  await Deno.writeFile(`${ts.root}/r.bin`, data);
  const h = ts.session();
  assert.equal((await h.run("REST 10")).code, 501, "TYPE A");
  await h.run("TYPE I");
  assert.equal((await h.run("REST 40000")).code, 350);
  await h.run("EPSV"); // REST survives PASV/EPSV
  const { data: tail } = await h.transfer("RETR r.bin");
  assert.equal(await sha256(tail), await sha256(data.subarray(40000)));
  assert.equal((await h.run("REST 100001")).code, 350);
  assert.deepEqual((await h.transfer("RETR r.bin")).replies.map((r) => r.code), [554]);
  assert.equal((await h.run("REST -1")).code, 501);
  assert.equal((await h.run("REST abc")).code, 501);
});

test("REST + STOR writes from the offset and drops what followed; APPE appends", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/f.txt`, "0123456789");
  const h = ts.session();
  await h.run("TYPE I");
  await h.run("REST 4");
  assert.equal((await h.transfer("STOR f.txt", text("ab"))).code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/f.txt`), "0123ab");
  assert.equal((await h.transfer("APPE f.txt", text("XY"))).code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/f.txt`), "0123abXY");
  assert.equal((await h.transfer("APPE new.txt", text("n"))).code, 226);
  assert.equal(await Deno.readTextFile(`${ts.root}/new.txt`), "n");
  await h.run("REST 2");
  assert.equal((await h.transfer("APPE f.txt", text("z"))).replies[0].code, 503);
  await h.run("REST 2");
  assert.equal((await h.transfer("STOU", text("z"))).replies[0].code, 503);
});

test("STOU stores under a fresh name given in 150 FILE:", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/up.txt`, "existing");
  const h = ts.session();
  await h.run("TYPE I");
  const first = await h.transfer("STOU up.txt", text("one"));
  assert.equal(first.replies[0].text, "FILE: up.txt.1");
  assert.equal(first.replies[1].code, 226);
  const second = await h.transfer("STOU", text("two"));
  const name = /^FILE: (.+)$/.exec(second.replies[0].text)![1];
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
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("EPSV ALL")).code, 200);
  assert.equal((await h.run("PASV")).code, 503);
  assert.equal((await h.run("PORT 127,0,0,1,20,0")).code, 503);
  assert.equal((await h.run("EPRT |1|127.0.0.1|5000|")).code, 503);
  assert.equal((await h.run("EPSV")).code, 229);
  assert.equal((await h.run("EPSV 3")).code, 522); // RFC 2428: unsupported protocol
});

test("HOST before login is 220, after login 503", async () => {
  await using ts = await folderHarness();
  const h = ts.session(null);
  assert.equal((await h.run("HOST ftp.example.com")).code, 220);
  assert.equal((await h.run("HOST bad host!")).code, 501);
  await h.run("USER test");
  await h.run("PASS secret");
  assert.equal((await h.run("HOST ftp.example.com")).code, 503);
});

test("SITE HELP and SITE CHMOD", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/x.sh`, "#!/bin/sh");
  const h = ts.session();
  const help = await h.run("SITE HELP");
  assert.equal(help.code, 214);
  assert.ok(help.lines.some((l) => l.includes("SITE CHMOD")));
  assert.equal((await h.run("SITE CHMOD 755 x.sh")).code, 200);
  assert.equal((await Deno.stat(`${ts.root}/x.sh`)).mode! & 0o777, 0o755);
  assert.equal((await h.run("SITE CHMOD 9 x.sh")).code, 501);
  assert.equal((await h.run("SITE CHMOD 644 nope")).code, 550);
  assert.equal((await h.run("SITE EXEC rm")).code, 504);
});

test("HELP lists every command and explains one", async () => {
  await using ts = await folderHarness();
  const h = ts.session(null);
  const help = await h.run("HELP");
  assert.equal(help.code, 214);
  for (const verb of ["RETR", "MLSD", "XPWD", "EPSV"]) {
    assert.match(help.lines.join(" "), new RegExp(`\\b${verb}\\b`));
  }
  assert.equal(
    (await h.run("HELP retr")).text,
    "Syntax: RETR <path> (Download a file (from the REST offset, if any); needs download)",
  );
  assert.equal((await h.run("HELP NOPE")).code, 502);
});

test("STAT alone gives status; STAT with a path lists over the control connection", async () => {
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/s.txt`, "s");
  await Deno.writeTextFile(`${ts.root}/.h`, "h");
  const h = ts.session("sam");
  const status = await h.run("STAT");
  assert.equal(status.code, 211);
  assert.ok(status.lines.some((l) => l.includes("Logged in as sam")));
  const listing = await h.run("STAT -a /");
  assert.equal(listing.code, 213);
  assert.ok(listing.lines.some((l) => / s\.txt$/.test(l)));
  assert.ok(listing.lines.some((l) => / \.h$/.test(l)));
  assert.equal((await h.run("STAT nope")).code, 550);
});

test("X-aliases behave like their commands", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  assert.equal((await h.run("XMKD x")).code, 257);
  assert.equal((await h.run("XCWD x")).code, 250);
  assert.equal((await h.run("XPWD")).text, '"/x" is the current directory');
  assert.equal((await h.run("XCUP")).code, 250);
  assert.equal((await h.run("XRMD x")).code, 250);
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
  await using ts = await folderHarness();
  await Deno.writeTextFile(`${ts.root}/a.bin`, "old");
  const h = ts.session();
  await h.run("TYPE I");
  assert.equal((await h.run("ALLO 1000")).code, 202);
  assert.deepEqual((await h.transfer("STOR a.bin", randomBytes(999))).replies.map((r) => r.code), [
    150,
    426,
  ]);
  assert.equal(await Deno.readTextFile(`${ts.root}/a.bin`), "old");
  assert.equal((await h.run("ALLO 10")).code, 202);
  assert.deepEqual((await h.transfer("STOR a.bin", randomBytes(10))).replies.map((r) => r.code), [
    150,
    226,
  ]);
  assert.equal((await h.run("ALLO x")).code, 501);
});
