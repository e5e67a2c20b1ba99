/**
 * An auth service that answers each login with the user's whole policy: a
 * JSON profile in the body of its HTTP 200 (see "Per-user policy" in the
 * README). This example runs the service itself (Basic auth on
 * 127.0.0.1:8081) and an FTP server that asks it, with a local folder as
 * everyone's storage and a named storage `archive` that profiles mount.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=. --allow-write=. examples/profile_service.ts
 *   python3 -c "import ftplib; f = ftplib.FTP(); f.connect('127.0.0.1', 2121); f.login('drop', 'box'); print(f.nlst())"
 *
 * `drop` / `box` sees the served folder as a drop box: it may list and
 * download everywhere, and upload (new files only) below `/incoming`. `carol` / `archivist` sees
 * `/archive` (read-only) beside her home. The same from a config file:
 *
 * ```yaml
 * authenticator: basic
 * authenticator_config:
 *   login_url: http://127.0.0.1:8081/login
 * storages:
 *   archive: { connector: memory }
 * ```
 */

import { FileStorage, FtpServer, MemoryStorage } from "../mod.ts";
import { BasicAuthenticator } from "../src/auth/basic.ts";

/** A user of the service: a password and the profile sent when it matches. */
export interface ServiceUser {
  /** The password (a real service keeps a hash). */
  password: string;
  /** The JSON profile (snake_case fields, as the README documents them). */
  profile: Record<string, unknown>;
}

/** The example's users. */
export const USERS: Record<string, ServiceUser> = {
  drop: {
    password: "box",
    profile: {
      permissions: { "/": ["list", "download"], "/incoming": ["list", "upload"] },
    },
  },
  carol: {
    password: "archivist",
    profile: {
      home: "/carol",
      folders: [{ path: "/archive", storage: "archive", read_only: true }],
      quota_bytes: 100_000_000,
      download_bytes_per_s: 1_000_000,
    },
  },
};

/**
 * The service: `GET /login` with `Authorization: Basic …` → 200 and the
 * profile as JSON, or 401.
 */
export function profileService(users: Record<string, ServiceUser>) {
  return (request: Request): Response => {
    const url = new URL(request.url);
    const encoded = /^Basic (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    let name = "", password = "";
    try {
      [name, password] = new TextDecoder().decode(
        Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)),
      ).split(/:(.*)/s);
    } catch {
      // Not base64: no one.
    }
    const user = Object.hasOwn(users, name) ? users[name] : undefined;
    if (url.pathname !== "/login" || !user || user.password !== password) {
      return new Response("no\n", { status: 401 });
    }
    return Response.json(user.profile);
  };
}

if (import.meta.main) {
  const service = Deno.serve({ hostname: "127.0.0.1", port: 8081 }, profileService(USERS));
  const archive = new MemoryStorage();
  await archive.write("/2020.txt", new Blob(["an old report\n"]).stream());
  const storage = new FileStorage({ root: "." });
  await storage.mkdir("/incoming").catch(() => {}); // there already, or made now
  await using server = new FtpServer({
    port: 2121,
    authenticator: new BasicAuthenticator({ loginUrl: "http://127.0.0.1:8081/login" }),
    storage,
    storages: { archive },
  });
  const { hostname, port } = await server.listen();
  console.log(`FTP on ${hostname}:${port}, profile service on 127.0.0.1:8081; Ctrl-C to stop`);
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
  await service.shutdown();
}
