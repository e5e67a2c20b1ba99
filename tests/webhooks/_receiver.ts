/**
 * A real webhook receiver for the tests: `Deno.serve` on port 0 (or a given
 * port, to come back where it was), verifying every request's signature, and
 * able to answer 503, hang, or be stopped and started again.
 */

import { verifyWebhook } from "../../mod.ts";

/** One request as it arrived. */
export interface Received {
  body: string;
  signature: string | null;
  valid: boolean;
  headers: Headers;
  /** The parsed body. */
  event: Record<string, unknown>;
}

/** What the receiver answers. */
export type ReceiverMode = "ok" | "unavailable" | "hang";

/** A running receiver. */
export interface Receiver extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Every request, in arrival order (failed attempts too). */
  readonly received: Received[];
  /** Requests answered with a 2xx. */
  readonly accepted: Received[];
  mode: ReceiverMode;
  /** Called for each request answered "ok", before the answer (e.g. to look at the stored file). */
  onEvent?: (received: Received) => void | Promise<void>;
  /** Answer with this instead of the default 204 (status and body). */
  answer?: (received: Received) => Response | undefined;
  /** Stop listening (connections are refused until `start`). */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
}

/** Start a receiver that checks signatures with `secret`. */
export async function startReceiver(secret: string, port = 0): Promise<Receiver> {
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let releaseHung: () => void = () => {};
  let hung = new Promise<void>((resolve) => releaseHung = resolve);
  const receiver: Receiver = {
    url: "",
    port,
    received: [],
    accepted: [],
    mode: "ok",
    async stop() {
      releaseHung();
      await server?.shutdown();
      server = undefined;
      hung = new Promise<void>((resolve) => releaseHung = resolve);
    },
    async start() {
      const listening = Promise.withResolvers<Deno.NetAddr>();
      server = Deno.serve({
        port: receiver.port,
        hostname: "127.0.0.1",
        onListen: (addr) => listening.resolve(addr),
      }, async (request) => {
        const body = await request.text();
        const signature = request.headers.get("X-Exftp-Signature");
        const received: Received = {
          body,
          signature,
          valid: await verifyWebhook(secret, signature, body),
          headers: request.headers,
          event: JSON.parse(body),
        };
        receiver.received.push(received);
        if (receiver.mode === "unavailable") return new Response("down", { status: 503 });
        if (receiver.mode === "hang") {
          await hung;
          return new Response("late", { status: 503 });
        }
        await receiver.onEvent?.(received);
        const answer = receiver.answer?.(received) ?? new Response(null, { status: 204 });
        if (answer.ok) receiver.accepted.push(received);
        return answer;
      });
      const addr = await listening.promise;
      Object.assign(receiver, { port: addr.port, url: `http://127.0.0.1:${addr.port}/hook` });
    },
    async [Symbol.asyncDispose]() {
      await receiver.stop();
    },
  };
  await receiver.start();
  return receiver;
}

/** A port nothing listens on (for an unreachable service). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
