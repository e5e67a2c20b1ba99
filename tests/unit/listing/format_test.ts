import assert from "node:assert/strict";
import {
  formatListLine,
  formatMlstEntry,
  ftpTimestamp,
  lsDate,
  MLST_FACTS,
  type MlstFact,
  safeName,
} from "../../../src/listing/format.ts";
import type { FileInfo } from "../../../src/storage/types.ts";

/** The fixed clock of these tests. */
const NOW = new Date("2026-03-15T12:00:00Z");
const ALL_FACTS: ReadonlySet<MlstFact> = new Set(MLST_FACTS);
const DAY_MS = 24 * 60 * 60 * 1000;

function file(name: string, size: number, mtime?: Date, mode?: number): FileInfo {
  return { name, type: "file", size, mtime, mode };
}

function dir(name: string, mtime?: Date, mode?: number): FileInfo {
  return { name, type: "directory", size: 4096, mtime, mode };
}

/** Split an ls -l line into its columns: perms, links, owner, group, size, date, name. */
function columns(line: string) {
  const match =
    /^([d-][rwx-]{9}) +(\d+) +(\S+) +(\S+) +(\d+) (\w{3} [ \d]\d (?: \d{4}|\d\d:\d\d)) (.*)$/
      .exec(line);
  assert.ok(match, `not an ls -l line: ${JSON.stringify(line)}`);
  const [, perms, links, owner, group, size, date, name] = match;
  return { perms, links, owner, group, size: Number(size), date, name };
}

Deno.test("LIST line of a recent file: permissions, size, Mon DD HH:MM, name", () => {
  const line = formatListLine(file("report.txt", 1234, new Date("2026-03-10T08:05:00Z")), NOW);
  const c = columns(line);
  assert.equal(c.perms, "-rw-r--r--");
  assert.equal(c.links, "1");
  assert.equal(c.size, 1234);
  assert.equal(c.date, "Mar 10 08:05");
  assert.equal(c.name, "report.txt");
  assert.ok(line.endsWith(" Mar 10 08:05 report.txt"), line);
});

Deno.test("LIST line of a folder starts with d and default mode 755", () => {
  const c = columns(formatListLine(dir("photos", new Date("2026-03-01T00:00:00Z")), NOW));
  assert.equal(c.perms, "drwxr-xr-x");
  assert.equal(c.name, "photos");
});

Deno.test("LIST permission string follows the mode bits", () => {
  const cases: Array<[FileInfo, string]> = [
    [file("a", 0, NOW, 0o600), "-rw-------"],
    [file("a", 0, NOW, 0o777), "-rwxrwxrwx"],
    [file("a", 0, NOW, 0o000), "----------"],
    [file("a", 0, NOW, 0o751), "-rwxr-x--x"],
    [file("a", 0, NOW, 0o100644), "-rw-r--r--"], // file-type bits from stat are ignored
    [dir("d", NOW, 0o700), "drwx------"],
    [dir("d", NOW, 0o40755), "drwxr-xr-x"],
  ];
  for (const [info, perms] of cases) {
    assert.equal(columns(formatListLine(info, NOW)).perms, perms, info.mode?.toString(8));
  }
});

Deno.test("LIST size column holds sizes from 0 to beyond 4 GiB", () => {
  for (const size of [0, 1, 999_999, 4_294_967_296, 1_099_511_627_776]) {
    const line = formatListLine(file("big", size, NOW), NOW);
    assert.equal(columns(line).size, size);
  }
});

Deno.test("LIST lines of different sizes keep the date column aligned", () => {
  const small = formatListLine(file("a", 1, NOW), NOW);
  const large = formatListLine(file("a", 123456789, NOW), NOW);
  assert.equal(small.length, large.length);
  assert.equal(small.indexOf("Mar"), large.indexOf("Mar"));
});

Deno.test("LIST date pads a one-digit day with a space", () => {
  const c = columns(formatListLine(file("a", 1, new Date("2026-03-05T09:07:00Z")), NOW));
  assert.equal(c.date, "Mar  5 09:07");
});

Deno.test("LIST shows the year for entries older than six months", () => {
  const old = new Date("2025-03-05T10:00:00Z");
  assert.equal(columns(formatListLine(file("a", 1, old), NOW)).date, "Mar  5  2025");
  const veryOld = new Date("1999-12-31T23:59:00Z");
  assert.equal(columns(formatListLine(file("a", 1, veryOld), NOW)).date, "Dec 31  1999");
});

Deno.test("LIST shows the time up to six months back and the year beyond", () => {
  const fiveMonths = new Date(NOW.getTime() - 150 * DAY_MS);
  assert.match(lsDate(fiveMonths, NOW), /^\w{3} [ \d]\d \d\d:\d\d$/);
  const sevenMonths = new Date(NOW.getTime() - 215 * DAY_MS);
  assert.match(lsDate(sevenMonths, NOW), /^\w{3} [ \d]\d {2}\d{4}$/);
});

Deno.test("LIST shows the year for entries in the future", () => {
  const future = new Date("2026-03-20T10:00:00Z");
  assert.equal(lsDate(future, NOW), "Mar 20  2026");
  assert.equal(lsDate(new Date("2027-01-02T00:00:00Z"), NOW), "Jan  2  2027");
});

Deno.test("LIST shows the time for an entry modified right now", () => {
  assert.equal(lsDate(NOW, NOW), "Mar 15 12:00");
});

Deno.test("LIST dates are in UTC whatever the local time zone", () => {
  // 23:30 UTC on the 14th is the 15th in most zones east of UTC.
  assert.equal(lsDate(new Date("2026-03-14T23:30:00Z"), NOW), "Mar 14 23:30");
  assert.equal(lsDate(new Date("2026-01-01T00:00:00Z"), NOW), "Jan  1 00:00");
});

Deno.test("LIST dates and MLSx times are UTC under a far-off local time zone", async () => {
  const module = new URL("../../../src/listing/format.ts", import.meta.url).href;
  const script = `
    const { lsDate, ftpTimestamp } = await import(${JSON.stringify(module)});
    const t = new Date("2026-03-14T23:30:00Z");
    console.log(lsDate(t, new Date("2026-03-15T12:00:00Z")) + "|" + ftpTimestamp(t));
  `;
  for (const tz of ["Pacific/Kiritimati", "America/Los_Angeles"]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { TZ: tz, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(output.success, tz);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "Mar 14 23:30|20260314233000");
  }
});

Deno.test("LIST uses English month names for every month", () => {
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  months.forEach((name, index) => {
    const date = new Date(Date.UTC(2020, index, 15, 12, 0));
    assert.equal(lsDate(date, NOW), `${name} 15  2020`);
  });
});

Deno.test("LIST of an entry with no known time shows a date, not garbage", () => {
  const line = formatListLine(file("x", 3), NOW);
  const c = columns(line);
  assert.equal(c.name, "x");
  assert.ok(!line.includes("undefined") && !line.includes("NaN"), line);
});

Deno.test("LIST keeps spaces in names and never emits CR or LF", () => {
  assert.equal(columns(formatListLine(file("my file .txt", 1, NOW), NOW)).name, "my file .txt");
  const line = formatListLine(file("bad\r\nname\0", 1, NOW), NOW);
  assert.ok(!/[\r\n\0]/.test(line), JSON.stringify(line));
});

Deno.test("LIST can show a different name than the entry's (LIST of a path)", () => {
  const c = columns(formatListLine(file("b.txt", 1, NOW), NOW, "dir/b.txt"));
  assert.equal(c.name, "dir/b.txt");
});

Deno.test("ftpTimestamp is YYYYMMDDHHMMSS in UTC without fractions", () => {
  assert.equal(ftpTimestamp(new Date("2026-01-01T12:00:00Z")), "20260101120000");
  assert.equal(ftpTimestamp(new Date("2026-12-31T23:59:59.999Z")), "20261231235959");
  assert.equal(ftpTimestamp(new Date("1999-02-03T04:05:06.5Z")), "19990203040506");
  assert.match(ftpTimestamp(new Date()), /^\d{14}$/);
});

Deno.test("MLSx entry of a file: facts in order, then one space and the name", () => {
  const info = file("data.bin", 12, new Date("2026-01-01T12:00:00Z"), 0o644);
  assert.equal(
    formatMlstEntry(info, ALL_FACTS, "adfrw"),
    "type=file;size=12;modify=20260101120000;perm=adfrw;unix.mode=0644; data.bin",
  );
});

Deno.test("MLSx entry of a folder has type=dir and no size", () => {
  const info = dir("sub", new Date("2026-02-03T04:05:06Z"), 0o755);
  assert.equal(
    formatMlstEntry(info, ALL_FACTS, "cdeflmp"),
    "type=dir;modify=20260203040506;perm=cdeflmp;unix.mode=0755; sub",
  );
});

Deno.test("MLSx entry has no modify fact for an unknown or 1970 time", () => {
  for (const mtime of [undefined, new Date(0), new Date(-1000), new Date(NaN)]) {
    const entry = formatMlstEntry(file("a", 1, mtime), ALL_FACTS, "r");
    assert.ok(!entry.includes("modify="), `${mtime?.getTime()}: ${entry}`);
    assert.equal(entry, "type=file;size=1;perm=r; a");
  }
});

Deno.test("MLSx entry has no unix.mode fact when the mode is unknown", () => {
  assert.equal(formatMlstEntry(file("a", 0, NOW), ALL_FACTS, "r").includes("unix.mode"), false);
});

Deno.test("MLSx unix.mode keeps only permission bits, in octal with a leading 0", () => {
  const entry = formatMlstEntry(file("a", 0, undefined, 0o100600), new Set(["unix.mode"]), "");
  assert.equal(entry, "unix.mode=0600; a");
});

Deno.test("MLSx entry writes only the selected facts (OPTS MLST)", () => {
  const info = file("a.txt", 5, new Date("2026-01-01T00:00:00Z"), 0o644);
  assert.equal(formatMlstEntry(info, new Set(["size"]), "r"), "size=5; a.txt");
  assert.equal(formatMlstEntry(info, new Set(["type", "perm"]), "rw"), "type=file;perm=rw; a.txt");
  assert.equal(formatMlstEntry(info, new Set(), "r"), " a.txt");
});

Deno.test("MLSx fact names are lower case and the name follows exactly one space", () => {
  const entry = formatMlstEntry(file("  two leading spaces", 1, NOW, 0o644), ALL_FACTS, "r");
  const space = entry.indexOf(" ");
  const facts = entry.slice(0, space);
  assert.equal(entry.slice(space + 1), "  two leading spaces");
  for (const fact of facts.split(";").filter(Boolean)) {
    const name = fact.split("=")[0];
    assert.equal(name, name.toLowerCase());
  }
  assert.ok(facts.endsWith(";"));
});

Deno.test("MLSx entry can name the full path (MLST) and never emits CR or LF", () => {
  assert.ok(formatMlstEntry(file("a", 1), ALL_FACTS, "r", "/dir/a").endsWith("; /dir/a"));
  const entry = formatMlstEntry(file("x\r\ny", 1), ALL_FACTS, "r");
  assert.ok(!/[\r\n]/.test(entry), JSON.stringify(entry));
});

Deno.test("safeName replaces CR, LF and NUL and keeps everything else", () => {
  assert.equal(safeName("a\rb\nc\0d"), "a?b?c?d");
  assert.equal(safeName("plain name.txt"), "plain name.txt");
  assert.equal(safeName('ünï 日本 "q" 😀'), 'ünï 日本 "q" 😀');
  assert.equal(safeName(""), "");
});
