/**
 * Embed exftp in front of MinIO (or any S3-compatible store): one bucket, a folder per user,
 * every transfer logged. Start MinIO and make the bucket first, e.g.
 *
 *   docker run -p 9000:9000 minio/minio server /data
 *   mc alias set local http://localhost:9000 minioadmin minioadmin && mc mb local/ftp
 *
 * then:
 *
 *   S3_ENDPOINT=http://localhost:9000 S3_BUCKET=ftp \
 *     deno run --allow-net --allow-env --allow-sys=osRelease examples/s3_minio.ts
 *
 * Credentials come from S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (default minioadmin), or leave
 * S3_ENDPOINT unset to use AWS S3 with the standard AWS credential chain.
 */

import { FtpServer, PassthroughAuthenticator, S3Storage } from "../mod.ts";

const endpoint = Deno.env.get("S3_ENDPOINT");
using storage = new S3Storage({
  bucket: Deno.env.get("S3_BUCKET") ?? "ftp",
  endpoint,
  forcePathStyle: endpoint !== undefined,
  credentials: endpoint === undefined ? undefined : {
    accessKeyId: Deno.env.get("S3_ACCESS_KEY_ID") ?? "minioadmin",
    secretAccessKey: Deno.env.get("S3_SECRET_ACCESS_KEY") ?? "minioadmin",
  },
});
// A wrong bucket or an unreachable endpoint fails here, with the reason, not at the first login.
await storage.check();

await using server = new FtpServer({
  port: 2121,
  authenticator: new PassthroughAuthenticator(),
  // Every user sees s3://<bucket>/users/<name>/ as "/"; the views share one connection pool.
  storage: (user) => {
    if (!/^[\w.-]+$/.test(user.username) || user.username.startsWith(".")) {
      throw new Error(`user name ${JSON.stringify(user.username)} can't name a folder`);
    }
    return storage.forPrefix(`users/${user.username}`);
  },
});
server.addEventListener("transfer-complete", (event) => {
  const { username, command, path, bytes, durationMs } = event.detail;
  console.log(`${username} ${command} ${path}: ${bytes} bytes in ${durationMs} ms`);
});
const { hostname, port } = await server.listen();
console.log(`Accepting connections on ${hostname}:${port}; Ctrl-C to stop`);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
// Leaving the scope closes the server first, then the storage's connection pool.
