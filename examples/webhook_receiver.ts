/**
 * Event webhooks, both ends: a receiver that checks each request's
 * `X-Exftp-Signature` and ignores events it has already seen (delivery is at
 * least once), and an FTP server that sends it its events. Every upload,
 * download, delete, rename, folder change and login is printed as it arrives.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write examples/webhook_receiver.ts
 *   curl ftp://alice:x@127.0.0.1:2121/
 *
 * The same server from a config file:
 *
 * ```yaml
 * events:
 *   url: http://127.0.0.1:8081/exftp-events
 *   secret: change-me-to-a-long-random-string
 *   on: [upload, delete, rename, login_failed]
 *   outbox: /var/lib/exftp/outbox
 * ```
 *
 * The receiver needs nothing from exftp: {@linkcode verifySignature} is the
 * whole check, in WebCrypto (`verifyWebhook` of `@exftp/server` does the same).
 */

import { FtpServer, PassthroughAuthenticator } from "../mod.ts";
import { FileStorage } from "../mod.ts";

const SECRET = "change-me-to-a-long-random-string";
/** How old a signature may be, in seconds (a replayed request is older). */
const TOLERANCE_S = 300;

/** Whether `header` (`t=<unix seconds>,v1=<hex>`) signs `body` with `secret`. */
async function verifySignature(secret: string, header: string | null, body: string) {
  const fields = new Map(
    (header ?? "").split(",").map((part) => {
      const [name, ...value] = part.trim().split("=");
      return [name, value.join("=")] as const;
    }),
  );
  const timestamp = Number(fields.get("t"));
  const signature = fields.get("v1") ?? "";
  if (!Number.isInteger(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - timestamp) > TOLERANCE_S) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const bytes = signature.match(/^[0-9a-f]{64}$/)
    ? Uint8Array.from(signature.match(/../g)!, (hex) => parseInt(hex, 16))
    : new Uint8Array();
  // crypto.subtle.verify compares in constant time.
  return await crypto.subtle.verify(
    "HMAC",
    key,
    bytes,
    new TextEncoder().encode(`${timestamp}.${body}`),
  );
}

const seen = new Set<string>(); // a real receiver keeps these in its database

const receiver = Deno.serve(
  { hostname: "127.0.0.1", port: 8081, onListen() {} },
  async (request) => {
    const body = await request.text(); // the raw body: verify before parsing
    if (!(await verifySignature(SECRET, request.headers.get("X-Exftp-Signature"), body))) {
      return new Response("bad signature\n", { status: 401 });
    }
    const event = JSON.parse(body);
    if (seen.has(event.id)) return new Response(null, { status: 204 }); // a retry: done already
    seen.add(event.id);
    console.log(`${event.type} ${event.user ?? "-"} ${event.path ?? ""} ${event.outcome}`);
    return new Response(null, { status: 204 }); // any 2xx: delivered
  },
);

const outbox = await Deno.makeTempDir({ prefix: "exftp-outbox-" });
const server = new FtpServer({
  port: 2121,
  authenticator: new PassthroughAuthenticator(),
  storage: new FileStorage({ root: "." }),
  events: { url: "http://127.0.0.1:8081/exftp-events", secret: SECRET, outbox },
});
const { hostname, port } = await server.listen();
console.log(`FTP on ${hostname}:${port}, events to 127.0.0.1:8081; Ctrl-C to stop`);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
await server.close();
await receiver.shutdown();
await Deno.remove(outbox, { recursive: true });
