/**
 * Issue 10: ASCII-only verbs, listings of names with spaces at either end, EPSV/REIN/ACCT/SMNT
 * codes, HELP for this session only, OPTS MLST with no facts, read-only refusal as a property of
 * the command table, and ABOR that stops a transfer promptly in both modes.
 */

import assert from "node:assert/strict";
import type { Authenticator } from "../../mod.ts";
import { buildCommandTable } from "../../src/commands/table.ts";
import { randomBytes, startServer } from "../helpers.ts";
import { test, withDeadline } from "../deadline.ts";
import { folderHarness } from "./_harness.ts";

/** `ro` logs in read-only, anyone else read-write. */
const readOnlyAuth: Authenticator = {
  authenticate: ({ username }) => Promise.resolve({ username, readOnly: username === "ro" }),
};

test("verbs are ASCII only: ſtor, ﬆat, lıst are unknown (500); stor, Stat still work", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  for (const line of ["ſtor x", "ﬆat", "lıst", "ﬆAT", "quıt"]) {
    assert.equal((await h.run(line)).code, 500, line);
  }
  assert.equal((await h.run("Stat")).code, 211);
  assert.equal((await h.run("noop")).code, 200);
  assert.equal((await h.run("HELP ſtor")).code, 502);
  // SITE's own sub-commands too: ſite help is unknown, site cHmod is not.
  assert.equal((await h.run("SITE ſite")).code, 504);
  assert.equal((await h.run("SITE chmod 644 nothing-here")).code, 550);
});

test("LIST, NLST and STAT keep a name's leading and trailing spaces; -la still parses", async () => {
  await using ts = await folderHarness();
  await Deno.mkdir(`${ts.root}/ lead`);
  await Deno.writeTextFile(`${ts.root}/ lead/inside.txt`, "x");
  await Deno.writeTextFile(`${ts.root}/trail `, "y");
  const h = ts.session();
  const list = await h.listing("LIST  lead");
  assert.equal(list.replies.at(-1)?.code, 226, "LIST ' lead'");
  assert.match(list.lines.join("\n"), /inside\.txt/);
  const nlst = await h.listing("NLST trail ");
  assert.deepEqual(nlst.lines, ["trail "]);
  const stat = await h.run("STAT  lead");
  assert.equal(stat.code, 213);
  assert.match(stat.lines.join("\n"), /inside\.txt/);
  const flagged = await h.listing("LIST -la trail ");
  assert.equal(flagged.replies.at(-1)?.code, 226, "LIST -la 'trail '");
  assert.equal(flagged.lines.length, 1);
  const plain = await h.listing("LIST -la");
  assert.match(plain.lines.join("\n"), / lead/);
});

test("EPSV 3 is 522 naming the supported protocol; EPSV x is 501", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  const reply = await h.run("EPSV 3");
  assert.equal(reply.code, 522);
  assert.match(reply.text, /\(1\)/);
  assert.equal((await h.run("EPSV x")).code, 501);
});

test("REIN, ACCT and SMNT are known but not implemented: 502, before and after login", async () => {
  await using ts = await folderHarness();
  const fresh = ts.session(null);
  for (const line of ["REIN", "ACCT x", "SMNT /"]) {
    assert.equal((await fresh.run(line)).code, 502, line);
  }
  const h = ts.session();
  for (const line of ["REIN", "ACCT x", "SMNT /"]) {
    assert.equal((await h.run(line)).code, 502, line);
  }
});

test("HELP lists only what this session can use: no AUTH/PBSZ/PROT without TLS", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  const help = await h.run("HELP");
  const words = help.lines.slice(1, -1).join(" ").split(/\s+/);
  for (const verb of ["AUTH", "PBSZ", "PROT", "REIN", "ACCT", "SMNT"]) {
    assert.ok(!words.includes(verb), `${verb} not in HELP: ${help.lines.join(" | ")}`);
  }
  assert.ok(words.includes("RETR") && words.includes("MFMT"));
  assert.equal((await h.run("HELP AUTH")).code, 502);
});

test("HELP leaves out MFMT when the connector can't set times", async () => {
  const { MemoryStorage } = await import("../../src/storage/memory.ts");
  const memory = new MemoryStorage();
  const storage = Object.assign(Object.create(memory), { setModifiedTime: undefined });
  await using ts = await folderHarness({ storage });
  const h = ts.session();
  const words = (await h.run("HELP")).lines.join(" ").split(/\s+/);
  assert.ok(!words.includes("MFMT"), "MFMT not in HELP");
});

test("OPTS MLST with no facts answers '200 MLST OPTS' without a trailing space", async () => {
  await using ts = await folderHarness();
  const h = ts.session();
  const reply = await h.run("OPTS MLST");
  assert.equal(reply.code, 200);
  assert.equal(reply.lines[0], "200 MLST OPTS");
  assert.equal((await h.run("OPTS MLST size;type;")).lines[0], "200 MLST OPTS type;size;");
});

/** Every verb the table marks as changing storage, with an argument that would work. */
const STORAGE_CHANGING: Record<string, string> = {
  STOR: "new.txt",
  APPE: "file.txt",
  STOU: "",
  DELE: "file.txt",
  MKD: "newdir",
  XMKD: "newdir",
  RMD: "dir",
  XRMD: "dir",
  RNFR: "file.txt",
  RNTO: "renamed.txt",
  MFMT: "20200101000000 file.txt",
};

test("the command table marks every storage-changing verb (a new one can't slip by)", () => {
  const flagged = [...buildCommandTable()]
    .filter(([, spec]) => spec.changesStorage)
    .map(([verb]) => verb)
    .sort();
  assert.deepEqual(flagged, Object.keys(STORAGE_CHANGING).sort());
});

test("a read-only user gets 550 for every storage-changing verb and SITE CHMOD; nothing changes", async () => {
  await using ts = await folderHarness({ authenticator: readOnlyAuth });
  await Deno.writeTextFile(`${ts.root}/file.txt`, "keep");
  await Deno.mkdir(`${ts.root}/dir`);
  const before = await snapshot(ts.root);
  const h = ts.session("ro");
  const verbs = [...buildCommandTable()].filter(([, spec]) => spec.changesStorage);
  assert.ok(verbs.length >= Object.keys(STORAGE_CHANGING).length);
  for (const [verb] of verbs) {
    const line = `${verb} ${STORAGE_CHANGING[verb] ?? "file.txt"}`.trimEnd();
    assert.equal((await h.run(line)).code, 550, line);
  }
  assert.equal((await h.run("SITE CHMOD 777 file.txt")).code, 550, "SITE CHMOD");
  assert.deepEqual(await snapshot(ts.root), before);
  // The same lines from a read-write user do change things (the arguments are real).
  const rw = ts.session("rw");
  assert.equal((await rw.run("MKD newdir")).code, 257);
  assert.equal((await rw.run("SITE CHMOD 600 file.txt")).code, 200);
});

async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    const info = await Deno.stat(`${root}/${entry.name}`);
    out.push(`${entry.name} ${info.size} ${info.mtime?.getTime()} ${info.mode}`);
  }
  return out.sort();
}

for (const mode of ["passive", "active"] as const) {
  test(`ABOR stops a stalled ${mode} download within 2 s (stall timeout 10 min)`, async () => {
    await using ts = await startServer({ dataStallTimeoutMs: 600_000 });
    await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(32 * 1024 * 1024));
    const client = await ts.client();
    await client.send("TYPE I");
    let data: Deno.Conn;
    let listener: Deno.Listener | undefined;
    if (mode === "passive") {
      data = await client.passive();
      assert.equal((await client.send("RETR big.bin")).code, 150);
    } else {
      listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const { port } = listener.addr as Deno.NetAddr;
      assert.equal((await client.send(`PORT 127,0,0,1,${port >> 8},${port & 255}`)).code, 200);
      assert.equal((await client.send("RETR big.bin")).code, 150);
      data = await listener.accept();
    }
    try {
      await data.read(new Uint8Array(1024)); // running; we read no more, so it blocks
      const started = Date.now();
      await withDeadline(2000, async () => {
        await client.write("ABOR\r\n");
        assert.equal((await client.read()).code, 426);
        assert.equal((await client.read()).code, 226);
      }, "ABOR");
      assert.ok(Date.now() - started < 2000);
      // The server closed the data connection: reading reaches its end (or a reset).
      await withDeadline(2000, async () => {
        const buffer = new Uint8Array(1 << 20);
        try {
          while ((await data.read(buffer)) !== null) {
            // what was in flight
          }
        } catch {
          // reset
        }
      }, "data connection closed");
      assert.equal((await client.send("NOOP")).code, 200);
    } finally {
      data.close();
      listener?.close();
    }
  });
}
