/**
 * The systemd recipe (examples/exftp.service): `systemd-analyze verify`
 * accepts it without a warning, and its ExecStart keeps to least privilege.
 * (tests/dist/publish_test.ts runs that ExecStart against the published
 * package.) Where `systemd-analyze` is missing the check is ignored with the
 * reason, under CI=true too: `.ci/run` does not install systemd (an init
 * system, for a static check of one example).
 *
 * @module
 */

import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";

const UNIT = new URL("../../examples/exftp.service", import.meta.url).pathname;

function hasSystemdAnalyze(): boolean {
  return new Deno.Command("sh", { args: ["-c", "command -v systemd-analyze"], stdout: "null" })
    .outputSync().success;
}

/** The value of `Key=` in the unit (the first one). */
function unitValue(text: string, key: string): string {
  const match = new RegExp(`^${key}=(.*)$`, "m").exec(text);
  assert.ok(match, `the unit sets ${key}=`);
  return match[1];
}

const verifyAvailable = hasSystemdAnalyze();

Deno.test({
  name: `examples/exftp.service passes systemd-analyze verify without a warning${
    verifyAvailable ? "" : " (ignored: systemd-analyze is not installed)"
  }`,
  ignore: !verifyAvailable,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // verify checks that ExecStart's program exists: use this deno wherever it lives.
      const text = (await Deno.readTextFile(UNIT)).replace("/usr/bin/deno ", `${Deno.execPath()} `);
      await Deno.writeTextFile(`${dir}/exftp.service`, text);
      const result = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/exftp.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(result.stdout) +
        new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, output);
      assert.equal(output.trim(), "", "no warnings");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("examples/exftp.service runs a pinned, current version with least-privilege flags", async () => {
  const text = await Deno.readTextFile(UNIT);
  const start = unitValue(text, "ExecStart");
  assert.match(start, new RegExp(`jsr:@exftp/server@${VERSION.replaceAll(".", "\\.")} `));
  assert.doesNotMatch(
    start,
    /\s(-A|--allow-all|--allow-env|--allow-run|--allow-ffi|--allow-sys)\b/,
  );
  assert.match(start, /--allow-write=\/var\/lib\/exftp,\/var\/lib\/private\/exftp /);
  assert.equal(unitValue(text, "DynamicUser"), "yes");
  assert.equal(unitValue(text, "CapabilityBoundingSet"), "");
  assert.equal(unitValue(text, "ExecReload"), "/bin/kill -HUP $MAINPID");
});
