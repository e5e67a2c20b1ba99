import assert from "node:assert/strict";
import type { FtpUser } from "../../src/auth/types.ts";
import { parseProfile, ProfileError } from "../../src/policy/profile.ts";

/** Profile (as JSON would give it) → the user it makes. */
const GOOD: [string, unknown, FtpUser][] = [
  ["empty: just the name", {}, { username: "alice" }],
  ["the service names the user", { username: "bob" }, { username: "bob" }],
  ["home and read_only", { home: "/alice", read_only: true }, {
    username: "alice",
    home: "/alice",
    readOnly: true,
  }],
  ["null is absent", { home: null, quota_bytes: null }, { username: "alice" }],
  ["every number field, camelCased", {
    quota_bytes: 0,
    quota_files: 10,
    max_upload_bytes: 1_000_000,
    download_bytes_per_s: 65536,
    upload_bytes_per_s: 1,
    max_sessions: 2,
  }, {
    username: "alice",
    quotaBytes: 0,
    quotaFiles: 10,
    maxUploadBytes: 1_000_000,
    downloadBytesPerS: 65536,
    uploadBytesPerS: 1,
    maxSessions: 2,
  }],
  ["permissions: keys made clean, duplicates dropped", {
    permissions: { "/": ["list", "download", "list"], "/incoming/": ["*"], "//a//b": [] },
  }, {
    username: "alice",
    permissions: { "/": ["list", "download"], "/incoming": ["*"], "/a/b": [] },
  }],
  ["folders: read_only camelCased, path made clean", {
    folders: [{ path: "/archive/", storage: "archive", read_only: true }, {
      path: "/shared",
      storage: "team",
    }],
  }, {
    username: "alice",
    folders: [{ path: "/archive", storage: "archive", readOnly: true }, {
      path: "/shared",
      storage: "team",
    }],
  }],
  ["unknown fields kept as they are", { tenant: "t1", bucket_prefix: "x/", nested: { a: 1 } }, {
    username: "alice",
    tenant: "t1",
    bucket_prefix: "x/",
    nested: { a: 1 },
  }],
];

for (const [name, profile, expected] of GOOD) {
  Deno.test(`profile: ${name}`, () => {
    assert.deepEqual(parseProfile(profile, "alice"), expected);
  });
}

/** Profile → the field the refusal names (and a word of its problem). */
const BAD: [unknown, string, RegExp][] = [
  [null, "(profile)", /JSON object/],
  [[], "(profile)", /JSON object/],
  ["alice", "(profile)", /JSON object/],
  [{ username: "" }, "username", /non-empty/],
  [{ username: 42 }, "username", /non-empty/],
  [{ username: "a\nb" }, "username", /one line/],
  [{ home: 1 }, "home", /folder path/],
  [{ home: "" }, "home", /folder path/],
  [{ read_only: "yes" }, "read_only", /true or false/],
  [{ quota_bytes: -1 }, "quota_bytes", /at least 0/],
  [{ quota_bytes: 1.5 }, "quota_bytes", /whole number/],
  [{ quota_bytes: "100" }, "quota_bytes", /whole number/],
  [{ quota_files: 2 ** 60 }, "quota_files", /whole number/],
  [{ max_upload_bytes: -5 }, "max_upload_bytes", /at least 0/],
  [{ download_bytes_per_s: 0 }, "download_bytes_per_s", /at least 1/],
  [{ upload_bytes_per_s: -1 }, "upload_bytes_per_s", /at least 1/],
  [{ max_sessions: 0 }, "max_sessions", /at least 1/],
  [{ permissions: ["list"] }, "permissions", /map folders/],
  [{ permissions: { "/": "list" } }, 'permissions["/"]', /list of permissions/],
  [
    { permissions: { "/": ["list", "write"] } },
    'permissions["/"][1]',
    /unknown permission "write"/,
  ],
  [{ permissions: { "incoming": ["list"] } }, 'permissions["incoming"]', /absolute/],
  [{ permissions: { "/a/../b": ["list"] } }, 'permissions["/a/../b"]', /\.\./],
  [{ permissions: { "/a": ["list"], "/a/": ["upload"] } }, 'permissions["/a/"]', /twice/],
  [{ folders: { path: "/a" } }, "folders", /list/],
  [{ folders: ["/a"] }, "folders[0]", /mapping/],
  [{ folders: [{ path: "/a" }] }, "folders[0].storage", /non-empty/],
  [{ folders: [{ path: "a", storage: "s" }] }, "folders[0].path", /absolute/],
  [{ folders: [{ path: "/", storage: "s" }] }, "folders[0].path", /mount over \//],
  [{ folders: [{ path: "/a", storage: "s", read_only: 1 }] }, "folders[0].read_only", /true/],
  [{ folders: [{ path: "/a", storage: "s", mode: "ro" }] }, "folders[0].mode", /unknown key/],
  [
    { folders: [{ path: "/a", storage: "s" }, { path: "/a/", storage: "t" }] },
    "folders[1].path",
    /twice/,
  ],
  // An unknown field may not pass for a typed one (it would skip its check).
  [{ readOnly: false }, "readOnly", /did you mean read_only/],
  [{ quotaBytes: 1 }, "quotaBytes", /did you mean quota_bytes/],
  [JSON.parse('{"__proto__": {"readOnly": false}}'), "__proto__", /not allowed/],
];

for (const [profile, field, problem] of BAD) {
  Deno.test(`profile: ${JSON.stringify(profile)} is refused, naming ${field}`, () => {
    const error = assertThrowsProfile(() => parseProfile(profile, "alice"));
    assert.equal(error.field, field);
    assert.match(error.problem, problem);
    assert.equal(error.message, `${field}: ${error.problem}`);
  });
}

function assertThrowsProfile(run: () => unknown): ProfileError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ProfileError, `not a ProfileError: ${error}`);
    return error;
  }
  throw new assert.AssertionError({ message: "no ProfileError thrown" });
}
