import assert from "node:assert/strict";
import { hashPassword } from "../../../src/auth/password_hash.ts";
import { parseUsersFile, UsersFileAuthenticator } from "../../../src/auth/users_file.ts";
import type { AuthContext } from "../../../src/auth/types.ts";

const credentials = (username: string, password: string) => ({
  username,
  password,
  remoteAddress: "127.0.0.1",
});

/** A temporary folder removed on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "exftp-users-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

function capture(): { lines: string[]; context: AuthContext } {
  const lines: string[] = [];
  return {
    lines,
    context: {
      log: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`),
    },
  };
}

Deno.test("users file: YAML list under users:, a top-level list, JSON", async () => {
  const hash = await hashPassword("pw", { iterations: 1000 });
  const yaml = await parseUsersFile(
    `users:\n  - username: alice\n    password_hash: ${hash}\n    home: /alice\n` +
      `  - username: bob\n    password_hash: "${hash}"\n    read_only: true\n`,
  );
  assert.deepEqual(
    yaml.map(({ username, home, readOnly }) => ({ username, home, readOnly })),
    [
      { username: "alice", home: "/alice", readOnly: false },
      { username: "bob", home: undefined, readOnly: true },
    ],
  );
  assert.equal(yaml[0].passwordHash.iterations, 1000);
  const list = await parseUsersFile(`- username: carol\n  password_hash: ${hash}\n`);
  assert.equal(list[0].username, "carol");
  const json = await parseUsersFile(
    JSON.stringify([{ username: "dan", password_hash: hash }]),
    true,
  );
  assert.equal(json[0].username, "dan");
  assert.deepEqual(await parseUsersFile(""), []);
  assert.deepEqual(await parseUsersFile("users: []"), []);
});

Deno.test("users file: every problem names the entry and key", async () => {
  const hash = await hashPassword("pw", { iterations: 1000 });
  const cases: [string, RegExp][] = [
    ["users: [", /^not valid YAML: /],
    ["users: {}", /must be a list of users/],
    ["people: []", /unknown key "people"/],
    ["- just a string", /users\[0\]: must be a mapping/],
    [`- password_hash: ${hash}`, /users\[0\]\.username: must be a non-empty string/],
    [
      `- {username: a, password_hash: ${hash}}\n- {username: a, password_hash: ${hash}}`,
      /users\[1\]\.username: "a" appears twice/,
    ],
    ["- {username: a}", /users\[0\]\.password_hash: must be a string/],
    [
      "- {username: a, password_hash: hunter2}",
      /users\[0\]\.password_hash: must look like pbkdf2-sha256/,
    ],
    [`- {username: a, password_hash: ${hash}, home: 3}`, /users\[0\]\.home: must be a folder path/],
    [
      `- {username: a, password_hash: ${hash}, read_only: "yes"}`,
      /users\[0\]\.read_only: must be true or false/,
    ],
    [`- {username: a, password_hash: ${hash}, password: x}`, /users\[0\]\.password: unknown key/],
  ];
  for (const [text, message] of cases) {
    await assert.rejects(parseUsersFile(text), (error: Error) => {
      assert.ok(error instanceof SyntaxError, text);
      assert.match(error.message, message);
      return true;
    });
  }
  await assert.rejects(parseUsersFile("{", true), /^SyntaxError: not valid JSON/);
});

Deno.test("users file: good and bad passwords, unknown users refused alike", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/users.yaml`;
  const hash = await hashPassword("alice-pw", { iterations: 1000 });
  await Deno.writeTextFile(path, `- {username: alice, password_hash: "${hash}", home: /a}\n`);
  using auth = await UsersFileAuthenticator.open(path);
  assert.deepEqual(await auth.authenticate(credentials("alice", "alice-pw")), {
    username: "alice",
    readOnly: false,
    home: "/a",
  });
  assert.equal(await auth.authenticate(credentials("alice", "wrong")), null);
  assert.equal(await auth.authenticate(credentials("Alice", "alice-pw")), null, "names are exact");
  assert.equal(await auth.authenticate(credentials("nobody", "alice-pw")), null);
  assert.equal(await auth.authenticate(credentials("", "")), null);
});

Deno.test("users file: an unknown user costs a full hash, like a known one", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/users.yaml`;
  const hash = await hashPassword("pw", { iterations: 200_000 });
  await Deno.writeTextFile(path, `- {username: alice, password_hash: "${hash}"}\n`);
  using auth = await UsersFileAuthenticator.open(path);
  const time = async (username: string) => {
    const start = performance.now();
    await auth.authenticate(credentials(username, "wrong"));
    return performance.now() - start;
  };
  await time("alice"); // warm up
  // Interleaved, best of several: other tests running in parallel make single timings noisy.
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 4; i++) {
    known.push(await time("alice"));
    unknown.push(await time("ghost"));
  }
  const [k, u] = [Math.min(...known), Math.min(...unknown)];
  assert.ok(u > k / 3, `unknown ${u} ms vs known ${k} ms`);
});

Deno.test("users file: re-read when it changes; a broken edit keeps the old users", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/users.json`;
  const one = await hashPassword("one", { iterations: 1000 });
  const two = await hashPassword("two", { iterations: 1000 });
  await Deno.writeTextFile(path, JSON.stringify([{ username: "alice", password_hash: one }]));
  using auth = await UsersFileAuthenticator.open(path);
  const { lines, context } = capture();

  await Deno.writeTextFile(
    path,
    JSON.stringify([
      { username: "alice", password_hash: two },
      { username: "bob", password_hash: one, read_only: true },
    ]),
  );
  assert.equal(await auth.authenticate(credentials("alice", "one"), context), null);
  assert.ok(await auth.authenticate(credentials("alice", "two"), context));
  assert.deepEqual(await auth.authenticate(credentials("bob", "one"), context), {
    username: "bob",
    readOnly: true,
  });
  assert.equal(lines.filter((line) => line.startsWith("info Users file loaded")).length, 1);

  await Deno.writeTextFile(path, "[{ broken");
  assert.ok(await auth.authenticate(credentials("alice", "two"), context), "old users kept");
  assert.ok(await auth.authenticate(credentials("bob", "one"), context));
  const errors = lines.filter((line) => line.startsWith("error Users file not reloaded"));
  assert.equal(errors.length, 1, "reported once, not at every login");
  assert.match(errors[0], /not valid JSON/);

  await Deno.remove(path);
  assert.ok(await auth.authenticate(credentials("alice", "two"), context), "old users kept");
  assert.ok(lines.some((line) => line.startsWith("error Users file can't be read")));
});

Deno.test("users file: SIGHUP re-reads it, and close() stops listening", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/users.yaml`;
  const hash = await hashPassword("pw", { iterations: 1000 });
  await Deno.writeTextFile(path, `- {username: alice, password_hash: "${hash}"}\n`);
  const loaded: string[] = [];
  const auth = await UsersFileAuthenticator.open(path, {
    reloadSignal: "SIGHUP",
    logger: (_level, message) => loaded.push(message),
  });
  try {
    Deno.kill(Deno.pid, "SIGHUP");
    const deadline = Date.now() + 5000;
    while (loaded.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.deepEqual(loaded, ["Users file loaded"]);
  } finally {
    auth.close();
  }
  auth.close(); // twice is fine
});

Deno.test("users file: open() reports a missing file and bad content", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    UsersFileAuthenticator.open(`${dir.path}/missing.yaml`),
    Deno.errors.NotFound,
  );
  await Deno.writeTextFile(`${dir.path}/bad.yaml`, "- {username: a, password_hash: x}\n");
  await assert.rejects(
    UsersFileAuthenticator.open(`${dir.path}/bad.yaml`),
    /users\[0\]\.password_hash/,
  );
});
