/**
 * exftp: an FTP server for Deno whose authentication and storage are both
 * pluggable.
 *
 * A server needs two strategies, both required: an {@linkcode Authenticator}
 * (who may log in) and a {@linkcode StorageConnector} (what they see), either
 * built in or your own.
 *
 * ```ts
 * import { FtpServer, MemoryStorage, PassthroughAuthenticator } from "@exftp/server";
 *
 * await using server = new FtpServer({
 *   port: 0,
 *   authenticator: new PassthroughAuthenticator(), // any name but root; for local use
 *   storage: new MemoryStorage(),
 * });
 * const { hostname, port } = await server.listen();
 * console.log(`Accepting connections on ${hostname}:${port}`);
 * ```
 *
 * Entry points:
 *
 * - `@exftp/server` (this one): {@linkcode FtpServer}, its options and
 *   events, the `Authenticator` and `StorageConnector` interfaces, the
 *   built-in authenticators and connectors, errors, the {@linkcode Reply}
 *   codes, metrics and loggers;
 * - `@exftp/server/http`: building blocks for another HTTP authenticator
 *   (`HttpAuthenticator`, `HttpClient`) and the HTTP Digest client;
 * - `@exftp/server/testing`: the connector conformance suite, a fault
 *   injector and a raw FTP client for tests.
 *
 * Run as a module (`deno run … jsr:@exftp/server`), this file starts the CLI.
 *
 * @module
 */

export { FtpServer } from "./src/server.ts";
export type {
  FtpServerOptions,
  PassiveAddress,
  PassiveAddressRule,
  ProxyProtocolOptions,
} from "./src/options.ts";
export type { ClusterOptions } from "./src/cluster/options.ts";
export {
  MemoryState,
  type QueuedItem,
  type SharedState,
  type SharedStateMode,
} from "./src/cluster/state.ts";
export type {
  FtpServerEventMap,
  SessionEventDetail,
  TransferEventDetail,
  TransferKind,
} from "./src/events.ts";
export type {
  AuthContext,
  Authenticator,
  Credentials,
  FolderMount,
  FtpUser,
  Permission,
} from "./src/auth/types.ts";
export { AuthUnavailableError } from "./src/auth/types.ts";
export { NoAuthAuthenticator } from "./src/auth/no_auth.ts";
export { PassthroughAuthenticator } from "./src/auth/passthrough.ts";
export { BasicAuthenticator } from "./src/auth/basic.ts";
export { BearerAuthenticator, type BearerAuthenticatorOptions } from "./src/auth/bearer.ts";
export { DigestAuthenticator } from "./src/auth/digest.ts";
export type { HttpAuthenticatorOptions } from "./src/auth/http.ts";
export {
  type PasswordHashType,
  WebhookAuthenticator,
  type WebhookAuthenticatorOptions,
} from "./src/auth/webhook.ts";
export {
  UsersFileAuthenticator,
  type UsersFileAuthenticatorOptions,
} from "./src/auth/users_file.ts";
export {
  hashPassword,
  type HashPasswordOptions,
  type Pbkdf2Hash,
  verifyPassword,
} from "./src/auth/password_hash.ts";
export type { SessionReusePolicy, TlsOptions } from "./src/tls.ts";
export type {
  FileInfo,
  FileType,
  ReadOptions,
  StorageConnector,
  StorageProvider,
  StorageReader,
  UploadChecksums,
  WriteOptions,
} from "./src/storage/types.ts";
export { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from "./src/checksums/algorithms.ts";
export { FileStorage, type FileStorageOptions, type UploadMode } from "./src/storage/file.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./src/storage/memory.ts";
export {
  type S3ClientLike,
  type S3Credentials,
  S3Storage,
  type S3StorageOptions,
  type SweepResult,
} from "./src/storage/s3/mod.ts";
export { FtpError, StorageError, type StorageErrorKind } from "./src/errors.ts";
export { Reply, type ReplyCode } from "./src/replies.ts";
export type { NetAddress } from "./src/data/connection.ts";
export {
  authHealthCheck,
  type HealthCheck,
  type MetricsEndpointOptions,
  serveMetrics,
  ServerMetrics,
  storageHealthCheck,
} from "./src/metrics.ts";
export { signWebhook, verifyWebhook, type VerifyWebhookOptions } from "./src/webhooks/signature.ts";
export {
  type EventWebhookOptions,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from "./src/webhooks/options.ts";
export type { WebhookEventBody } from "./src/webhooks/event_body.ts";
export { consoleLogger, jsonLogger, type Logger, type LogLevel, silentLogger } from "./src/log.ts";

if (import.meta.main) {
  // Without a top-level await: a custom authenticator that imports this module
  // while the CLI loads it would otherwise wait for this module forever.
  import("./main.ts").then(({ runCli }) => runCli());
}
