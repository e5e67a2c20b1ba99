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
  #authUnavailable = 0;
  #passivePortsExhausted = 0;
  readonly #transfers = new Map<string, number>();
  readonly #bytes = new Map<string, number>();

  /** Start counting the events of `server`. */
  constructor(server: FtpServer) {
    this.#server = server;
    server.addEventListener("session-open", () => this.#sessionsOpened++);
    server.addEventListener("login", () => this.#logins++);
    server.addEventListener("login-failed", () => this.#loginFailures++);
    server.addEventListener("auth-unavailable", () => this.#authUnavailable++);
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
      "# HELP exftp_auth_unavailable_total Logins and re-checks answered 421: auth service down.",
      "# TYPE exftp_auth_unavailable_total counter",
      `exftp_auth_unavailable_total ${this.#authUnavailable}`,
      "# HELP exftp_passive_ports_exhausted_total PASV/EPSV answered 425: no passive port free.",
      "# TYPE exftp_passive_ports_exhausted_total counter",
      `exftp_passive_ports_exhausted_total ${this.#passivePortsExhausted}`,
      "# HELP exftp_transfers_total Transfers and file operations by kind and outcome.",
      "# TYPE exftp_transfers_total counter",
      ...[...this.#transfers].map(([labels, n]) => `exftp_transfers_total{${labels}} ${n}`),
      "# HELP exftp_transfer_bytes_total Bytes moved by kind of transfer.",
      "# TYPE exftp_transfer_bytes_total counter",
      ...[...this.#bytes].map(([kind, n]) => `exftp_transfer_bytes_total{kind="${kind}"} ${n}`),
      "# HELP exftp_shared_state Where bans and session counts live: 1 for the current mode.",
      "# TYPE exftp_shared_state gauge",
      ...(["local", "shared", "degraded"] as const).map((mode) =>
        `exftp_shared_state{mode="${mode}"} ${this.#server.sharedStateMode === mode ? 1 : 0}`
      ),
      "# HELP exftp_shared_state_degradations_total Falls back to local state (Redis unreachable).",
      "# TYPE exftp_shared_state_degradations_total counter",
      `exftp_shared_state_degradations_total ${this.#server.sharedStateDegradations}`,
      "# HELP exftp_draining 1 once shutdown began: no new sessions, running transfers finish.",
      "# TYPE exftp_draining gauge",
      `exftp_draining ${this.#server.draining ? 1 : 0}`,
      ...memoryLines(),
    ];
    return lines.join("\n") + "\n";
  }
}

/**
 * Where the process's memory is: resident in all, the V8 heap (used and
 * reserved) and ArrayBuffers outside it. What is resident beyond the two is
 * native (Deno's own, and memory the allocator keeps after it was freed).
 */
function memoryLines(): string[] {
  const { rss, heapUsed, heapTotal, external } = Deno.memoryUsage();
  return [
    "# HELP process_resident_memory_bytes Resident memory of the process.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${rss}`,
    "# HELP exftp_v8_heap_bytes The JavaScript heap: in use, and reserved by V8.",
    "# TYPE exftp_v8_heap_bytes gauge",
    `exftp_v8_heap_bytes{state="used"} ${heapUsed}`,
    `exftp_v8_heap_bytes{state="reserved"} ${heapTotal}`,
    "# HELP exftp_external_memory_bytes ArrayBuffers and other memory V8 tracks outside its heap.",
    "# TYPE exftp_external_memory_bytes gauge",
    `exftp_external_memory_bytes ${external}`,
  ];
}

/** A component `/healthz` asks about (the storage, the auth service). */
export interface HealthCheck {
  /** Shown in the answer: `storage`, `auth`. */
  name: string;
  /** Resolves when the component is usable; rejects with the reason otherwise. */
  check(signal: AbortSignal): Promise<void>;
}

/**
 * The storage's health: its own `check()` when it has one (S3: the bucket
 * answers with these credentials; per-user S3 providers carry one too), else
 * `stat("/")` of a connector. A per-user provider without `check()` has
 * nothing to ask before a login: `undefined`.
 */
export function storageHealthCheck(storage: unknown): HealthCheck | undefined {
  const withCheck = storage as { check?: () => Promise<void> } | null;
  if (typeof withCheck?.check === "function") {
    return { name: "storage", check: () => withCheck.check!() };
  }
  const connector = storage as { stat?: (path: string) => Promise<unknown> } | null;
  if (typeof storage !== "function" && typeof connector?.stat === "function") {
    return { name: "storage", check: async () => void await connector.stat!("/") };
  }
  return undefined;
}

/**
 * The auth service's health, for authenticators that ask one over HTTP
 * (`loginUrl`): any answer below 500 means it is reachable (it refuses a
 * request without credentials, as it should); 5xx, a network error or a
 * timeout mean logins can't work. `undefined` for local authenticators.
 */
export function authHealthCheck(authenticator: unknown): HealthCheck | undefined {
  const { loginUrl: url, loginMethod } = (authenticator ?? {}) as {
    loginUrl?: unknown;
    loginMethod?: unknown;
  };
  if (!(url instanceof URL)) return undefined;
  // The method logins use: a service need not implement HEAD (501 would read as an outage).
  const method = typeof loginMethod === "string" ? loginMethod : "GET";
  const shown = `${url.origin}${url.pathname}`;
  return {
    name: "auth",
    async check(signal) {
      let response: Response;
      try {
        response = await fetch(url, { method, redirect: "manual", signal });
      } catch (error) {
        throw new Error(`${shown} unreachable: ${(error as Error).message}`);
      }
      await response.body?.cancel();
      if (response.status >= 500) throw new Error(`${shown} answered ${response.status}`);
    },
  };
}

/** Options of {@linkcode serveMetrics}. */
export interface MetricsEndpointOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Address to bind. @default {"127.0.0.1"} */
  hostname?: string;
  /** What `/healthz` asks about besides the server running. @default {[]} */
  checks?: HealthCheck[];
  /** How long one check may take before it counts as failed, in ms. @default {3000} */
  checkTimeoutMs?: number;
  /** How long a `/healthz` result is reused, in ms. @default {2000} */
  checkCacheMs?: number;
}

/** Runs the checks on request, at most once per `cacheMs`; callers share a running round. */
class Health {
  readonly #checks: HealthCheck[];
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #result?: { at: number; problems: string[] };
  #running?: Promise<string[]>;

  constructor(checks: HealthCheck[], timeoutMs: number, cacheMs: number) {
    this.#checks = checks;
    this.#timeoutMs = timeoutMs;
    this.#cacheMs = cacheMs;
  }

  async problems(): Promise<string[]> {
    if (this.#result && performance.now() - this.#result.at < this.#cacheMs) {
      return this.#result.problems;
    }
    this.#running ??= this.#round().finally(() => this.#running = undefined);
    return await this.#running;
  }

  async #round(): Promise<string[]> {
    const problems = await Promise.all(this.#checks.map((check) => this.#run(check)));
    const found = problems.filter((problem) => problem !== undefined);
    this.#result = { at: performance.now(), problems: found };
    return found;
  }

  async #run(check: HealthCheck): Promise<string | undefined> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    try {
      await Promise.race([check.check(controller.signal), timeout]);
      return undefined;
    } catch (error) {
      return `${check.name}: ${(error as Error)?.message ?? String(error)}`.replaceAll("\n", " ");
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Serve `/metrics` (Prometheus) and `/healthz` for `server`. `/healthz`
 * answers 200 `ok` while the server runs and every check passes, 503 with
 * one line per failing check otherwise (checks run on request, with a
 * timeout, and their result is cached briefly), and 503 `draining` from the
 * moment `close()` is called (so balancers stop sending new clients). A node
 * whose Redis is unreachable is healthy (it serves with local state): a
 * second line says `shared state: degraded`. Close it with
 * `await endpoint.shutdown()`.
 *
 * @example
 * ```ts
 * import {
 *   FtpServer,
 *   MemoryStorage,
 *   PassthroughAuthenticator,
 *   serveMetrics,
 *   silentLogger,
 * } from "@exftp/server";
 *
 * await using server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(),
 *   storage: new MemoryStorage(),
 *   logger: silentLogger,
 * });
 * await server.listen();
 * const endpoint = serveMetrics(server, { port: 0, hostname: "127.0.0.1" });
 * const { port } = endpoint.addr as Deno.NetAddr;
 * const response = await fetch(`http://127.0.0.1:${port}/healthz`);
 * console.assert(response.status === 200 && (await response.text()).startsWith("ok"));
 * await endpoint.shutdown();
 * ```
 */
export function serveMetrics(server: FtpServer, options: MetricsEndpointOptions): Deno.HttpServer {
  const metrics = new ServerMetrics(server);
  const health = new Health(
    options.checks ?? [],
    options.checkTimeoutMs ?? 3000,
    options.checkCacheMs ?? 2000,
  );
  return Deno.serve(
    { port: options.port, hostname: options.hostname ?? "127.0.0.1", onListen() {} },
    async (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/healthz") {
        // Draining: balancers must stop sending new clients at once.
        if (server.draining) return new Response("draining\n", { status: 503 });
        const problems = await health.problems();
        // A degraded node still serves (local limits and bans): said, but healthy.
        const notes = server.sharedStateMode === "degraded"
          ? ["shared state: degraded (Redis unreachable; local limits and bans)"]
          : [];
        if (problems.length === 0) return new Response(["ok", ...notes].join("\n") + "\n");
        return new Response([...problems, ...notes].join("\n") + "\n", { status: 503 });
      }
      if (pathname === "/metrics") {
        return new Response(metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("not found\n", { status: 404 });
    },
  );
}
