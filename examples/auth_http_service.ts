/**
 * Put FTP in front of an HTTP auth service. This example runs a tiny Basic
 * auth service itself (alice / wonderland) and an FTP server that asks it at
 * login, and again at most every 30 s per session whether the user is still
 * valid: `DELETE http://127.0.0.1:8081/users/alice` cuts alice's sessions off.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=. --allow-write=. examples/auth_http_service.ts
 *   python3 -c "import ftplib; f = ftplib.FTP(); f.connect('127.0.0.1', 2121); f.login('alice', 'wonderland'); print(f.nlst())"
 *
 * The same from a config file:
 *
 * ```yaml
 * authenticator: basic            # or digest, bearer, webhook
 * authenticator_config:
 *   login_url: http://127.0.0.1:8081/login
 *   authenticated_url: http://127.0.0.1:8081/login
 *   authenticated_ttl_ms: 30000
 *   timeout_ms: 5000
 * ```
 */

import { FileStorage, FtpServer } from "../mod.ts";
import { BasicAuthenticator } from "../src/auth/basic.ts";

const users = new Map([["alice", "wonderland"]]);

const service = Deno.serve({ hostname: "127.0.0.1", port: 8081 }, (request) => {
  const url = new URL(request.url);
  const name = /^\/users\/([^/]+)$/.exec(url.pathname)?.[1];
  if (request.method === "DELETE" && name) {
    users.delete(name);
    return new Response(`${name} revoked\n`);
  }
  const encoded = /^Basic (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
  const [user, ...rest] = atob(encoded).split(":");
  const ok = url.pathname === "/login" && users.has(user) && users.get(user) === rest.join(":");
  return new Response(ok ? "ok\n" : "no\n", { status: ok ? 200 : 401 });
});

await using server = new FtpServer({
  port: 2121,
  authenticator: new BasicAuthenticator({
    loginUrl: "http://127.0.0.1:8081/login",
    authenticatedUrl: "http://127.0.0.1:8081/login",
    authenticatedTtlMs: 30_000,
  }),
  storage: new FileStorage({ root: "." }),
});
const { hostname, port } = await server.listen();
console.log(`FTP on ${hostname}:${port}, auth service on 127.0.0.1:8081; Ctrl-C to stop`);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
await service.shutdown();
