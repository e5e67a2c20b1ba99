/**
 * FTPS settings: certificate and key, the policies, and one TLS context per
 * control session (so a data connection can only resume *its own* control
 * session's TLS session, never another client's).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as tls from "node:tls";

/** When data connections must resume the control connection's TLS session. */
export type SessionReusePolicy = "off" | "prefer" | "require";

/** FTPS options of {@linkcode FtpServerOptions}. */
export interface TlsOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Lowest TLS version accepted. @default {"TLSv1.2"} */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** Refuse USER (530) before AUTH TLS, so passwords never travel in clear. @default {false} */
  requireTlsForLogin?: boolean;
  /** Refuse transfers (521) under PROT C. @default {false} */
  requireTlsForData?: boolean;
  /**
   * `require` refuses a data connection that did not resume the control
   * session's TLS session (522, like vsftpd's require_ssl_reuse); `prefer`
   * logs it; `off` does not look. Python's ftplib never resumes, so `off` is
   * the default.
   * @default {"off"}
   */
  sessionReuse?: SessionReusePolicy;
}

/** The validated TLS settings of a server; certificates can be replaced while running. */
export class TlsSettings {
  #cert: string;
  #key: string;
  readonly minVersion: tls.SecureVersion;
  readonly requireTlsForLogin: boolean;
  readonly requireTlsForData: boolean;
  readonly sessionReuse: SessionReusePolicy;

  /** Validate options; throws `TypeError`/`RangeError` naming the option. */
  constructor(options: TlsOptions) {
    checkPem(options.cert, options.key);
    const minVersion = options.minVersion ?? "TLSv1.2";
    if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") {
      throw new RangeError(`Option "tls.minVersion" must be "TLSv1.2" or "TLSv1.3"`);
    }
    const reuse = options.sessionReuse ?? "off";
    if (!["off", "prefer", "require"].includes(reuse)) {
      throw new RangeError(`Option "tls.sessionReuse" must be "off", "prefer" or "require"`);
    }
    this.#cert = options.cert;
    this.#key = options.key;
    this.minVersion = minVersion;
    this.requireTlsForLogin = options.requireTlsForLogin ?? false;
    this.requireTlsForData = options.requireTlsForData ?? false;
    this.sessionReuse = reuse;
    this.createContext(); // fail now on a bad certificate or key
  }

  /** Replace the certificate and key; sessions that start TLS later use them. */
  setCertificate(cert: string, key: string): void {
    checkPem(cert, key);
    const previous = [this.#cert, this.#key];
    [this.#cert, this.#key] = [cert, key];
    try {
      this.createContext();
    } catch (error) {
      [this.#cert, this.#key] = previous;
      throw error;
    }
  }

  /**
   * Whether Deno's native TLS listener can serve data connections under these
   * settings. It is the fast path (measured: RETR over PROT P ≈ 2× node:tls),
   * but it has no version setting (it always speaks TLS 1.2 and 1.3) and no
   * `isSessionReused()`, so a TLS 1.3 minimum or a session-reuse policy needs
   * node:tls, which honours this context like the control connection does.
   */
  get nativeDataListener(): boolean {
    return this.minVersion === "TLSv1.2" && this.sessionReuse === "off";
  }

  /** The current PEM certificate chain and key (for native TLS listeners). */
  get pem(): { cert: string; key: string } {
    return { cert: this.#cert, key: this.#key };
  }

  /** A fresh context for one control session (its own session ticket keys). */
  createContext(): tls.SecureContext {
    return tls.createSecureContext({
      cert: this.#cert,
      key: this.#key,
      minVersion: this.minVersion,
      // Ticket keys of this session alone, so that a ticket issued to one control
      // session cannot resume another's data connection. Measured on Deno 2.9: the
      // option is ignored (tickets are process-wide) and getSession() is null, so
      // "require" proves a resumed session of this server, not of this session.
      ticketKeys: Buffer.from(crypto.getRandomValues(new Uint8Array(48))),
    } as tls.SecureContextOptions);
  }
}

function checkPem(cert: unknown, key: unknown): void {
  if (typeof cert !== "string" || !/-----BEGIN CERTIFICATE-----/.test(cert)) {
    throw new TypeError(`Option "tls.cert" must be a PEM certificate`);
  }
  if (typeof key !== "string" || !/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(key)) {
    throw new TypeError(`Option "tls.key" must be a PEM private key`);
  }
}
