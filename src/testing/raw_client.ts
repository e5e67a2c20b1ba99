/**
 * A minimal FTP control client for tests: send exact lines, read exact replies.
 *
 * @module
 */

/** One reply, possibly multi-line. */
export interface FtpReply {
  /** The three-digit code. */
  code: number;
  /** Every line, without CRLF. */
  lines: string[];
  /** The text after the code on the last line. */
  text: string;
}

const encoder = new TextEncoder();

/**
 * Talks to an FTP server over a raw control connection, so tests can assert
 * reply codes and texts exactly.
 *
 * @example
 * ```ts ignore
 * import { RawFtpClient } from "@exftp/server/testing";
 * using client = await RawFtpClient.connect({ hostname: "127.0.0.1", port: 2121 });
 * await client.login("alice", "secret");
 * const reply = await client.send("PWD"); // { code: 257, … }
 * ```
 */
export class RawFtpClient implements Disposable {
  /** The control connection (TLS after {@linkcode startTls}). */
  conn: Deno.Conn;
  /** CA certificates trusted for TLS (set by {@linkcode startTls}). */
  #caCerts?: string[];
  /** Protect data connections with TLS (PROT P). */
  protectData = false;
  /** The 220 greeting (or 421 refusal). */
  greeting!: FtpReply;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /**
   * Connect and read the greeting; `proxyHeader` is sent first, as a load
   * balancer speaking the PROXY protocol would.
   */
  static async connect(
    address: { hostname: string; port: number },
    options: { proxyHeader?: Uint8Array } = {},
  ): Promise<RawFtpClient> {
    const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
    const client = new RawFtpClient(conn);
    if (options.proxyHeader) await client.write(options.proxyHeader);
    client.greeting = await client.read();
    return client;
  }

  /** Send one command line (CRLF added) and read its reply. */
  async send(line: string): Promise<FtpReply> {
    await this.write(line + "\r\n");
    return await this.read();
  }

  /** Send raw text or bytes, reading nothing. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** Read the next complete reply; rejects if the server closes first. */
  read(): Promise<FtpReply> {
    return readReply(() => this.#readLine());
  }

  /** Resolve true once the server closes the connection (reading and discarding). */
  async closedByServer(): Promise<boolean> {
    while ((await this.#readLine()) !== null) {
      // discard
    }
    return true;
  }

  /** USER + PASS; throws unless the server answers 230. */
  async login(user = "test", password = "test"): Promise<void> {
    const first = await this.send(`USER ${user}`);
    if (first.code === 230) return;
    if (first.code !== 331) throw new Error(`USER got ${first.lines.join(" | ")}`);
    const second = await this.send(`PASS ${password}`);
    if (second.code !== 230) throw new Error(`PASS got ${second.lines.join(" | ")}`);
  }

  /**
   * AUTH TLS and the handshake (trusting `caCert`, for a certificate issued
   * to `hostname`); then PBSZ 0 and PROT P unless `protectData` is false.
   */
  async startTls(caCert: string, { hostname = "localhost", protectData = true } = {}) {
    const reply = await this.send("AUTH TLS");
    if (reply.code !== 234) throw new Error(`AUTH TLS got ${reply.lines.join(" | ")}`);
    this.#caCerts = [caCert];
    this.conn = await Deno.startTls(this.conn as Deno.TcpConn, { hostname, caCerts: [caCert] });
    this.#buffer = "";
    if (protectData) {
      await this.send("PBSZ 0");
      const prot = await this.send("PROT P");
      if (prot.code !== 200) throw new Error(`PROT P got ${prot.lines.join(" | ")}`);
      this.protectData = true;
    }
  }

  /**
   * EPSV and connect to the advertised port. Under PROT P the TLS handshake
   * runs lazily on first use (after the 150, as real clients do).
   */
  async passive(): Promise<Deno.Conn> {
    const reply = await this.send("EPSV");
    const match = /\(\|\|\|(\d+)\|\)/.exec(reply.text);
    if (reply.code !== 229 || !match) throw new Error(`EPSV got ${reply.lines.join(" | ")}`);
    const { hostname } = this.conn.remoteAddr as Deno.NetAddr;
    const conn = await Deno.connect({ hostname, port: Number(match[1]) });
    if (!this.protectData || !this.#caCerts) return conn;
    return await Deno.startTls(conn, { hostname: "localhost", caCerts: this.#caCerts });
  }

  /**
   * Run a command that sends data to us (RETR, LIST, NLST, MLSD) over a
   * passive connection; returns the bytes and the 150 and final replies.
   */
  async download(command: string): Promise<{ data: Uint8Array; replies: FtpReply[] }> {
    const data = await this.passive();
    const first = await this.send(command);
    if (first.code !== 150 && first.code !== 125) {
      data.close();
      return { data: new Uint8Array(), replies: [first] };
    }
    const chunks = new Uint8Array(await new Response(data.readable).arrayBuffer());
    return { data: chunks, replies: [first, await this.read()] };
  }

  /** {@linkcode download} decoded as text lines (CRLF-separated). */
  async listing(command: string): Promise<{ lines: string[]; replies: FtpReply[] }> {
    const { data, replies } = await this.download(command);
    const text = new TextDecoder().decode(data);
    const lines = text === "" ? [] : text.replace(/\r\n$/, "").split("\r\n");
    return { lines, replies };
  }

  /** Run STOR/APPE over a passive connection; returns the 150 and final replies. */
  async upload(command: string, bytes: Uint8Array): Promise<FtpReply[]> {
    const data = await this.passive();
    const first = await this.send(command);
    if (first.code !== 150 && first.code !== 125) {
      data.close();
      return [first];
    }
    let offset = 0;
    while (offset < bytes.length) offset += await data.write(bytes.subarray(offset));
    data.close();
    return [first, await this.read()];
  }

  async #readLine(): Promise<string | null> {
    while (true) {
      const end = this.#buffer.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return line;
      }
      const chunk = new Uint8Array(65536);
      let n: number | null;
      try {
        n = await this.conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return null;
      this.#buffer += this.#decoder.decode(chunk.subarray(0, n), { stream: true });
    }
  }

  /** Close the control connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Read one complete reply (single or multi-line, RFC 959 §4.2) from a source
 * of lines; rejects when the lines end first or one is not a reply.
 */
export async function readReply(readLine: () => Promise<string | null>): Promise<FtpReply> {
  const lines: string[] = [];
  while (true) {
    const line = await readLine();
    if (line === null) {
      throw new Error(`Connection closed by the server after ${JSON.stringify(lines)}`);
    }
    lines.push(line);
    const match = /^(\d{3})([ -])(.*)$/.exec(lines[0]);
    if (!match) throw new Error(`Not a reply: ${JSON.stringify(line)}`);
    if (match[2] === " ") return { code: Number(match[1]), lines, text: match[3] };
    if (lines.length > 1 && line.startsWith(`${match[1]} `)) {
      return { code: Number(match[1]), lines, text: line.slice(4) };
    }
  }
}
