/**
 * Embed exftp in an application: serve a folder, log every transfer.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=. --allow-write=. examples/embed.ts
 */

import { FileStorage, FtpServer, PassthroughAuthenticator } from "../mod.ts";

await using server = new FtpServer({
  port: 2121,
  authenticator: new PassthroughAuthenticator(),
  storage: new FileStorage({ root: "." }),
});
server.addEventListener("transfer-complete", (event) => {
  const { username, command, path, bytes, durationMs } = event.detail;
  console.log(`${username} ${command} ${path}: ${bytes} bytes in ${durationMs} ms`);
});
const { hostname, port } = await server.listen();
console.log(`Accepting connections on ${hostname}:${port}; Ctrl-C to stop`);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
