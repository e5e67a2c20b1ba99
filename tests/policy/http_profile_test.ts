/**
 * Every HTTP authenticator reads the profile from its service's 200 answer,
 * through the same code: a real Deno.serve service answers each kind with
 * the body under test.
 */

import assert from "node:assert/strict";
import { BasicAuthenticator } from "../../src/auth/basic.ts";
import { BearerAuthenticator } from "../../src/auth/bearer.ts";
import { DigestAuthenticator } from "../../src/auth/digest.ts";
import type { AuthContext, Authenticator } from "../../src/auth/types.ts";
import { WebhookAuthenticator } from "../../src/auth/webhook.ts";

/** A service whose 200 carries `body` (with `type`) for every kind of proof. */
function startService() {
  const state = { body: "", type: "application/json" };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const authorization = request.headers.get("authorization") ?? "";
    // Digest: challenge first; any answer to it is accepted (the digest itself has its tests).
    if (new URL(request.url).pathname === "/digest" && !authorization.startsWith("Digest ")) {
      return new Response("", {
        status: 401,
        headers: { "WWW-Authenticate": 'Digest realm="t", nonce="abc", qop="auth"' },
      });
    }
    return new Response(state.body, { headers: { "Content-Type": state.type } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { state, base, [Symbol.asyncDispose]: () => server.shutdown() };
}

function authenticators(base: string): [string, Authenticator][] {
  return [
    ["basic", new BasicAuthenticator({ loginUrl: `${base}/basic` })],
    ["digest", new DigestAuthenticator({ loginUrl: `${base}/digest` })],
    ["bearer", new BearerAuthenticator({ loginUrl: `${base}/bearer` })],
    ["webhook", new WebhookAuthenticator({ loginUrl: `${base}/webhook` })],
  ];
}

function capture(): { lines: string[]; context: AuthContext } {
  const lines: string[] = [];
  return {
    lines,
    context: {
      log: (level, message, fields) => lines.push(JSON.stringify({ level, message, ...fields })),
    },
  };
}

const credentials = { username: "alice", password: "token-123", remoteAddress: "127.0.0.1" };

Deno.test("profiles: basic, digest, bearer and webhook all read the JSON profile of a 200", async () => {
  await using service = startService();
  service.state.body = JSON.stringify({
    username: "alice",
    home: "/alice",
    permissions: { "/": ["list"] },
    quota_bytes: 1000,
    folders: [{ path: "/archive", storage: "archive", read_only: true }],
    team: "blue",
  });
  for (const [kind, authenticator] of authenticators(service.base)) {
    const user = await authenticator.authenticate(credentials, capture().context);
    assert.deepEqual(user, {
      username: "alice",
      home: "/alice",
      permissions: { "/": ["list"] },
      quotaBytes: 1000,
      folders: [{ path: "/archive", storage: "archive", readOnly: true }],
      team: "blue",
    }, kind);
  }
});

Deno.test("profiles: a malformed body or field is a refusal naming the field, never a partial user", async () => {
  await using service = startService();
  const cases: [string, string, string][] = [
    ["application/json", '{"username": "alice", "quota_bytes": -1}', "quota_bytes"],
    [
      "application/json",
      '{"username": "alice", "permissions": {"/": ["fly"]}}',
      'permissions["/"][0]',
    ],
    [
      "application/json",
      '{"username": "alice", "folders": [{"path": "/a"}]}',
      "folders[0].storage",
    ],
    ["application/json", '{"username": "alice", "read_only": "no"}', "read_only"],
    ["application/json", "{not json", "(profile)"],
    ["text/plain", '{"username": "alice", "read_only": tru', "(profile)"], // no Content-Type excuse
    ["application/json", '["alice"]', "(profile)"],
  ];
  for (const [type, body, field] of cases) {
    service.state.type = type;
    service.state.body = body;
    for (const [kind, authenticator] of authenticators(service.base)) {
      const log = capture();
      assert.equal(
        await authenticator.authenticate(credentials, log.context),
        null,
        `${kind}: ${body}`,
      );
      const line = log.lines.find((l) => l.includes("malformed profile"));
      assert.ok(line, `${kind}: ${body}: ${log.lines}`);
      assert.equal(JSON.parse(line).field, field, kind);
    }
  }
});

Deno.test("profiles: a 200 without a JSON object (text, empty) is a yes without a profile, as before", async () => {
  await using service = startService();
  for (const body of ["ok\n", ""]) {
    service.state.type = "text/plain";
    service.state.body = body;
    for (const [kind, authenticator] of authenticators(service.base)) {
      if (kind === "bearer") continue; // bearer needs the service to name the user
      assert.deepEqual(await authenticator.authenticate(credentials), { username: "alice" }, kind);
    }
  }
});
