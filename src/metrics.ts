/**
 * Operational metrics: counters kept from a server's events, rendered in the
 * Prometheus text format, and an optional HTTP endpoint serving `/metrics`
 * and `/healthz`.
 *
 * @module
 */

import type { FtpServer } from "./server.ts";

/** Counters of one server, fed by its events. */
export class ServerMetrics {
  readonly #server: FtpServer;
  #sessionsOpened = 0;
  #logins = 0;
  #loginFailures = 0;
  #passivePortsExhausted = 0;
  readonly #transfers = new Map<string, number>();
  readonly #bytes = new Map<string, number>();

  /** Start counting the events of `server`. */
  constructor(server: FtpServer) {
    this.#server = server;
    server.addEventListener("session-open", () => this.#sessionsOpened++);
    server.addEventListener("login", () => this.#logins++);
    server.addEventListener("login-failed", () => this.#loginFailures++);
    server.addEventListener("passive-ports-exhausted", () => this.#passivePortsExhausted++);
    const count = (event: CustomEvent<{ kind: string; outcome: string; bytes: number }>) => {
      const { kind, outcome, bytes } = event.detail;
      const key = `kind="${kind}",outcome="${outcome}"`;
      this.#transfers.set(key, (this.#transfers.get(key) ?? 0) + 1);
      this.#bytes.set(kind, (this.#bytes.get(kind) ?? 0) + bytes);
    };
    server.addEventListener("transfer-complete", count);
    server.addEventListener("transfer-failed", count);
  }

  /** The Prometheus text exposition of the counters. */
  render(): string {
    const lines = [
      "# HELP exftp_sessions Open FTP sessions.",
      "# TYPE exftp_sessions gauge",
      `exftp_sessions ${this.#server.sessionCount}`,
      "# HELP exftp_sessions_opened_total Control connections accepted.",
      "# TYPE exftp_sessions_opened_total counter",
      `exftp_sessions_opened_total ${this.#sessionsOpened}`,
      "# HELP exftp_logins_total Logins by result.",
      "# TYPE exftp_logins_total counter",
      `exftp_logins_total{result="ok"} ${this.#logins}`,
      `exftp_logins_total{result="failed"} ${this.#loginFailures}`,
      "# HELP exftp_passive_ports_exhausted_total PASV/EPSV answered 425: no passive port free.",
      "# TYPE exftp_passive_ports_exhausted_total counter",
      `exftp_passive_ports_exhausted_total ${this.#passivePortsExhausted}`,
      "# HELP exftp_transfers_total Transfers and file operations by kind and outcome.",
      "# TYPE exftp_transfers_total counter",
      ...[...this.#transfers].map(([labels, n]) => `exftp_transfers_total{${labels}} ${n}`),
      "# HELP exftp_transfer_bytes_total Bytes moved by kind of transfer.",
      "# TYPE exftp_transfer_bytes_total counter",
      ...[...this.#bytes].map(([kind, n]) => `exftp_transfer_bytes_total{kind="${kind}"} ${n}`),
    ];
    return lines.join("\n") + "\n";
  }
}

/** Options of {@linkcode serveMetrics}. */
export interface MetricsEndpointOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Address to bind. @default {"127.0.0.1"} */
  hostname?: string;
}

/**
 * Serve `/metrics` (Prometheus) and `/healthz` (200 while the server runs) for
 * `server`. Close it with `await endpoint.shutdown()`.
 *
 * @example
 * ```ts ignore
 * import { FtpServer, serveMetrics } from "@exftp/server";
 * const server = new FtpServer();
 * await server.listen();
 * const endpoint = serveMetrics(server, { port: 9090 });
 * ```
 */
export function serveMetrics(server: FtpServer, options: MetricsEndpointOptions): Deno.HttpServer {
  const metrics = new ServerMetrics(server);
  return Deno.serve(
    { port: options.port, hostname: options.hostname ?? "127.0.0.1", onListen() {} },
    (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/healthz") return new Response("ok\n");
      if (pathname === "/metrics") {
        return new Response(metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("not found\n", { status: 404 });
    },
  );
}
