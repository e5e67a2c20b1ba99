/** Profiles from a users file, and named storages from the config. */

import assert from "node:assert/strict";
import { hashPassword } from "../../src/auth/password_hash.ts";
import { parseUsersFile } from "../../src/auth/users_file.ts";
import { buildOptions, ConfigError } from "../../src/config/config.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { FileStorage } from "../../src/storage/file.ts";

Deno.test("users file: entries take the profile fields, read by the same parser", async () => {
  const hash = await hashPassword("pw", { iterations: 1000 });
  const [entry] = await parseUsersFile(`
- username: drop
  password_hash: "${hash}"
  home: /drop
  permissions: { "/": [list, download], /incoming: [list, upload] }
  quota_bytes: 1000
  folders: [{ path: /archive, storage: archive, read_only: true }]
`);
  assert.deepEqual(entry.profile, {
    username: "drop",
    home: "/drop",
    readOnly: false,
    permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
    quotaBytes: 1000,
    folders: [{ path: "/archive", storage: "archive", readOnly: true }],
  });
  await assert.rejects(
    parseUsersFile(`- { username: a, password_hash: "${hash}", quota_files: -2 }`),
    /^SyntaxError: users\[0\]\.quota_files: must be a whole number of at least 0/,
  );
  await assert.rejects(
    parseUsersFile(`- { username: a, password_hash: "${hash}", permissions: { /: [write] } }`),
    /users\[0\]\.permissions\["\/"\]\[0\]: unknown permission "write"/,
  );
  // A file's typo stops start-up (a service's unknown fields are kept instead).
  await assert.rejects(
    parseUsersFile(`- { username: a, password_hash: "${hash}", quota: 5 }`),
    /users\[0\]\.quota: unknown key/,
  );
});

Deno.test("config: storages are built like storage_connector, and every mistake names its key", async () => {
  const root = await Deno.makeTempDir({ prefix: "exftp-storages-" });
  try {
    const { options } = await buildOptions({
      storage_connector: "memory",
      storages: {
        archive: { connector: "memory" },
        team: { connector: "file", config: { root: "." } },
      },
    }, root);
    assert.ok(options.storages?.archive instanceof MemoryStorage);
    const team = options.storages?.team;
    assert.ok(team instanceof FileStorage);
    assert.equal(team.root, await Deno.realPath(root));
    const problems: [unknown, string][] = [
      [[], "storages: must be a mapping"],
      [{ a: "memory" }, "storages.a: must be a mapping {connector, config}"],
      [{ a: {} }, "storages.a.connector: must name a connector"],
      [{ a: { connector: "memory", extra: 1 } }, "storages.a.extra: unknown key"],
      [{ a: { connector: "nope" } }, 'storages.a.connector: unknown storage connector "nope"'],
      [
        { a: { connector: "s3", config: { bucket: "b", colour: 1 } } },
        "storages.a.config.colour: unknown key",
      ],
    ];
    for (const [storages, message] of problems) {
      await assert.rejects(
        buildOptions({ storage_connector: "memory", storages }, root),
        (error) => {
          assert.ok(error instanceof ConfigError);
          assert.ok(error.message.startsWith(message), error.message);
          return true;
        },
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
