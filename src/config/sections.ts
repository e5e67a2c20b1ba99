/**
 * The settings of the config file's sections (`tls`, `events`, `cluster`):
 * keys below a top-level key, checked by the same rules as the rest.
 *
 * @module
 */

import { SECONDS, type Setting } from "./setting.ts";

/** The keys of the `tls` section (see the README's FTPS part). */
export const TLS_SETTINGS: readonly Setting[] = [
  { key: "tls.cert", kind: "path", doc: "PEM file of the certificate chain" },
  { key: "tls.key", kind: "path", doc: "PEM file of the private key" },
  {
    key: "tls.min_version",
    kind: "choice",
    values: ["TLSv1.2", "TLSv1.3"],
    default: "TLSv1.2",
    doc: "the oldest TLS version accepted, on control and data connections",
  },
  {
    key: "tls.require_tls_for_login",
    kind: "boolean",
    doc: "USER/PASS before AUTH TLS get 530",
  },
  {
    key: "tls.require_tls_for_data",
    kind: "boolean",
    doc: "transfers under PROT C get 521",
  },
  {
    key: "tls.session_reuse",
    kind: "choice",
    values: ["off", "prefer", "require"],
    default: "off",
    doc: "data connections must resume the control session's TLS session",
  },
] as const satisfies readonly Setting[];

/** The keys of the `events` section (see the README's "Event webhooks"). */
export const EVENTS_SETTINGS: readonly Setting[] = [
  { key: "events.url", kind: "text", doc: "where events are POSTed (http or https)" },
  {
    key: "events.secret",
    kind: "text",
    doc: "HMAC-SHA256 key of the `X-Exftp-Signature` header (required)",
  },
  {
    key: "events.on",
    kind: "list",
    values: [
      "upload",
      "download",
      "delete",
      "rename",
      "mkdir",
      "rmdir",
      "login",
      "login_failed",
    ],
    shownDefault: "all",
    doc: "which events are sent",
  },
  {
    key: "events.timeout_ms",
    kind: "duration",
    unit: 1,
    default: 10_000,
    doc: "time for one request (an event, or the before-upload check)",
  },
  {
    key: "events.retries",
    kind: "integer",
    min: 0,
    max: 1_000_000,
    default: 25,
    doc: "retries of a failed delivery (back-off doubling to 5 min) before it is set aside",
  },
  {
    key: "events.retry_delay_ms",
    kind: "duration",
    unit: 1,
    default: 1_000,
    doc: "the first retry's delay",
  },
  {
    key: "events.outbox",
    kind: "path",
    default: "exftp-outbox",
    doc: "folder where events wait until delivered (one file each, kept across restarts)",
  },
  {
    key: "events.max_outbox",
    kind: "integer",
    min: 1,
    max: 10_000_000,
    default: 10_000,
    doc: "most events waiting; newer ones are dropped (logged) beyond",
  },
  {
    key: "events.concurrency",
    kind: "integer",
    min: 1,
    max: 1_000,
    default: 4,
    doc: "most deliveries in flight",
  },
  {
    key: "events.before_upload_url",
    kind: "text",
    doc: "asked before each upload: a refusal answers 553, no answer 451",
  },
] as const satisfies readonly Setting[];

/** The keys of the `cluster` section (see the README's "Running a fleet"). */
export const CLUSTER_SETTINGS: readonly Setting[] = [
  {
    key: "cluster.redis_url",
    kind: "text",
    doc: "`redis://[user:password@]host:port[/db]` (`rediss://` for TLS) of the shared Redis",
  },
  {
    key: "cluster.key_prefix",
    kind: "text",
    default: "exftp:",
    doc: "prepended to every key, so several fleets share one Redis",
  },
  {
    key: "cluster.slot_ttl_s",
    ...SECONDS,
    default: 30_000,
    doc: "a dead node's sessions stop counting after this long (live nodes renew every third)",
  },
] as const satisfies readonly Setting[];
