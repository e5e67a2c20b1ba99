/**
 * Python's ftplib as a client the tests drive step by step
 * (`ftplib_driver.py`): sessions stay open across steps, and each is bound to
 * a source address of its own (127.0.0.x), which is what HAProxy's PROXY
 * headers then name. Deno's own sockets can't choose their source address.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { withDeadline } from "../deadline.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const DRIVER = new URL("./ftplib_driver.py", import.meta.url).pathname;

/** A reply line, split; code 0 when there was none (`text` says why). */
export interface Reply {
  code: number;
  text: string;
}

/** One ftplib session. */
export interface FtplibSession {
  readonly source: string;
  /** The greeting (`220 Hello from <node>.`). */
  readonly greeting: Reply;
  send(line: string): Promise<Reply>;
  /** Read one more reply (after a 150). */
  response(): Promise<Reply>;
  login(user: string, password: string): Promise<Reply>;
  /** STOR a local file. */
  store(path: string, file: string): Promise<Reply>;
  /** RETR into a local file; with `rest`, REST first and append. */
  fetch(path: string, file: string, rest?: number): Promise<Reply>;
  nlst(): Promise<string[]>;
  close(): Promise<void>;
}

/** The driver process. */
export interface Ftplib extends AsyncDisposable {
  /**
   * Connect from `source`: the session when the greeting is 220, else the
   * refusal (the connection is closed then).
   */
  connect(source: string): Promise<FtplibSession | Reply>;
  /**
   * A bare data connection from `source` to `port` of the balancer: "closed"
   * when the other end closes it within `waitS` seconds without a byte, else
   * a function that reads it to its end.
   */
  dial(source: string, port: number, waitS: number): Promise<"closed" | (() => Promise<string>)>;
}

function reply(line: string): Reply {
  const code = /^\d{3}/.test(line) ? Number(line.slice(0, 3)) : 0;
  return { code, text: line };
}

/** Start the driver; `host:port` is where every session connects (the balancer). */
export function startFtplib(host: string, port: number): Ftplib {
  const child = new Deno.Command(PYTHON, {
    args: ["-u", DRIVER],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const errors = new Response(child.stderr).text();
  let buffered = "";
  let queue = Promise.resolve();

  async function nextLine(): Promise<string> {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`ftplib driver exited: ${await errors}`);
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  }

  // One request at a time (the driver answers in order); each within 30 s.
  function request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = queue.then(() =>
      withDeadline(30_000, async () => {
        await writer.write(new TextEncoder().encode(JSON.stringify(body) + "\n"));
        return JSON.parse(await nextLine());
      }, `ftplib ${JSON.stringify(body)}`)
    );
    queue = result.then(() => {}, () => {});
    return result;
  }

  async function replyOf(body: Record<string, unknown>): Promise<Reply> {
    const answer = await request(body);
    return "error" in answer
      ? { code: 0, text: String(answer.error) }
      : reply(String(answer.reply));
  }

  return {
    async connect(source) {
      const answer = await request({ op: "connect", source, host, port });
      if ("error" in answer) return { code: 0, text: String(answer.error) };
      const greeting = reply(String(answer.reply));
      if (answer.session === undefined) return greeting;
      const session = answer.session;
      return {
        source,
        greeting,
        send: (line) => replyOf({ op: "cmd", session, line }),
        response: () => replyOf({ op: "resp", session }),
        login: (user, password) => replyOf({ op: "login", session, user, password }),
        store: (path, file) => replyOf({ op: "store", session, path, file }),
        fetch: (path, file, rest) => replyOf({ op: "fetch", session, path, file, rest }),
        async nlst() {
          const answer = await request({ op: "nlst", session });
          if ("error" in answer) throw new Error(String(answer.error));
          return answer.names as string[];
        },
        async close() {
          await request({ op: "close", session });
        },
      };
    },
    async dial(source, port, waitS) {
      const answer = await request({ op: "dial", source, host, port, wait: waitS });
      if ("error" in answer) throw new Error(String(answer.error));
      if (answer.closed) return "closed";
      return async () => {
        const read = await request({ op: "read_data", data: answer.data });
        if ("error" in read) throw new Error(String(read.error));
        return String(read.text);
      };
    },
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      try {
        await child.status;
        await lines.cancel().catch(() => {});
        await errors;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Whether `connect` gave a session. */
export function isSession(value: FtplibSession | Reply): value is FtplibSession {
  return "greeting" in value;
}
