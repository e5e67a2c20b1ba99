import assert from "node:assert/strict";
import {
  invocation,
  invocationHint,
  type InvocationSource,
  usageLines,
} from "../../../src/config/invocation.ts";

function source(mainModule: string, standalone = false): InvocationSource {
  return { mainModule, standalone, cwd: "/home/me/exftp", execPath: "/usr/local/bin/exftp" };
}

Deno.test("invocation tells a JSR start, the source, the bundle and a compiled executable apart", () => {
  const table: [InvocationSource, string, string][] = [
    [source("jsr:@exftp/server"), "jsr", "jsr:@exftp/server"],
    [source("jsr:@exftp/server@0.1.0"), "jsr", "jsr:@exftp/server@0.1.0"],
    [source("file:///home/me/exftp/main.ts"), "source", "main.ts"],
    [source("file:///home/me/exftp/mod.ts"), "source", "mod.ts"],
    [source("file:///home/me/exftp/exftp.js"), "bundle", "exftp.js"],
    [source("file:///opt/exftp/exftp.js"), "bundle", "/opt/exftp/exftp.js"],
    [source("file:///opt/my%20ftp/main.ts"), "source", "/opt/my ftp/main.ts"],
    [source("file:///home/me/exftp/main.ts", true), "executable", "exftp"],
    [source("https://example.com/exftp/main.ts"), "other", "https://example.com/exftp/main.ts"],
  ];
  for (const [given, kind, target] of table) {
    assert.deepEqual(invocation(given), { kind, target }, given.mainModule);
  }
});

Deno.test("invocationHint writes the command the way exftp was started", () => {
  assert.equal(
    invocationHint("--allow-net", "--root DIR", source("jsr:@exftp/server")),
    "deno run --allow-net jsr:@exftp/server --root DIR",
  );
  assert.equal(
    invocationHint("--allow-net", "", source("file:///home/me/exftp/main.ts")),
    "deno run --allow-net main.ts",
  );
  assert.equal(
    invocationHint("", "hash-password", source("file:///home/me/exftp/exftp.js")),
    "deno run exftp.js hash-password",
  );
  // A compiled executable has its permissions built in.
  assert.equal(
    invocationHint("--allow-net", "--root DIR", source("file:///x/main.ts", true)),
    "exftp --root DIR",
  );
  assert.equal(
    invocationHint("-A", "", source("file:///opt/my%20ftp/main.ts")),
    'deno run -A "/opt/my ftp/main.ts"',
  );
});

Deno.test("--help usage lines: the JSR ones name the installed command too", () => {
  const jsr = usageLines(source("jsr:@exftp/server"));
  assert.match(jsr, /^ {2}deno run --allow-net --allow-read=DIR .* jsr:@exftp\/server --root DIR/m);
  assert.match(
    jsr,
    /^ {2}deno run --allow-net jsr:@exftp\/server \[options\] +serve an in-memory/m,
  );
  assert.match(jsr, /^ {2}deno run jsr:@exftp\/server hash-password/m);
  assert.match(jsr, /deno install -g -n exftp/);
  const main = usageLines(source("file:///home/me/exftp/main.ts"));
  assert.match(main, /^ {2}deno run .* main\.ts --root DIR/m);
  assert.doesNotMatch(main, /jsr:|deno install/);
  const executable = usageLines(source("file:///x/main.ts", true));
  assert.match(executable, /^ {2}exftp --root DIR \[options\]$/m);
  assert.match(executable, /^ {2}exftp hash-password/m);
  assert.doesNotMatch(executable, /deno run|in-memory/);
});
