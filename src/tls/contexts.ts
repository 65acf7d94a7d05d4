/**
 * SecureContexts for the HTTPS listener, built from the routing table's
 * certificates (kubernetes.io/tls Secrets that compile() already validated).
 *
 * The table in force is read on every handshake, so a rotated Secret is served to
 * the next handshake without a restart, while established connections keep the
 * context they were made with. Contexts are cached by Secret and content hash: an
 * unchanged Secret reuses its context across table swaps, a rotated one gets a new
 * context, and contexts no table refers to any more are dropped.
 */
import { createHash } from "node:crypto";
import tls from "node:tls";
import type { RoutingTable, TlsCertificate } from "../routing/table.js";
import { tlsChannels, type TlsContextFailed, type TlsNoCertificate } from "./events.js";

/** TLS 1.0 and 1.1 are refused: deprecated by RFC 8996. */
export const MIN_TLS_VERSION: tls.SecureVersion = "TLSv1.2";

/** Where the contexts read the table in force (the table holder, in practice). */
export interface CertificateTables {
  readonly current: RoutingTable;
}

/** How a certificate was chosen for an SNI name. */
export type CertificateChoice = "exact" | "wildcard" | "default";

export interface CertificateSelection {
  readonly certificate: TlsCertificate;
  readonly choice: CertificateChoice;
}

/** Lower-cases an SNI name and strips a trailing dot. */
export function normalizeServerName(servername: string): string {
  const name = servername.toLowerCase();
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * Chooses the certificate for an SNI name: the exact hostname, then the most
 * specific wildcard (`*.b.example.com` before `*.example.com`; like routing, a
 * wildcard matches any depth of subdomain and never the bare domain), then the
 * table's default certificate. `undefined` when none applies.
 */
export function chooseCertificate(
  table: RoutingTable,
  servername: string | undefined,
): CertificateSelection | undefined {
  if (servername) {
    const name = normalizeServerName(servername);
    const exact = table.certificates.get(name);
    if (exact) return { certificate: exact, choice: "exact" };
    for (let dot = name.indexOf("."); dot !== -1 && dot < name.length - 1; dot = name.indexOf(".", dot + 1)) {
      const wildcard = table.certificates.get(`*${name.slice(dot)}`);
      if (wildcard) return { certificate: wildcard, choice: "wildcard" };
    }
  }
  return table.defaultCertificate ? { certificate: table.defaultCertificate, choice: "default" } : undefined;
}

function contentKey(certificate: TlsCertificate): string {
  const hash = createHash("sha256").update(certificate.certPem).update("\0").update(certificate.keyPem);
  return `${certificate.secret}@${hash.digest("hex")}`;
}

export class TlsContexts {
  readonly #tables: CertificateTables;
  /** Session-ticket keys of the contexts a handshake starts with (the PROXY handoff's). */
  readonly #ticketKeys: Buffer | undefined;
  /** `secret@sha256` → context; `undefined` records a certificate OpenSSL refused. */
  readonly #cache = new Map<string, tls.SecureContext | undefined>();
  /** compile() makes new certificate objects on every publish; hash each one once. */
  readonly #keys = new WeakMap<TlsCertificate, string>();
  /** The certificate-less context handshakes start with when there is no default certificate. */
  #bare: tls.SecureContext | undefined;
  #prunedFor: RoutingTable | undefined;
  #reportedGeneration = -1;
  #defaultKey: string | undefined;

  constructor(tables: CertificateTables, ticketKeys?: Uint8Array) {
    this.#tables = tables;
    this.#ticketKeys = ticketKeys && Buffer.from(ticketKeys);
  }

  /** Node's `SNICallback`: chooses a context from the table in force at this handshake. */
  readonly SNICallback = (
    servername: string,
    callback: (err: Error | null, ctx?: tls.SecureContext) => void,
  ): void => {
    callback(null, this.contextFor(servername));
  };

  /** The context for an SNI name (or none sent), or `undefined` when no certificate applies. */
  contextFor(servername: string | undefined): tls.SecureContext | undefined {
    const table = this.#tables.current;
    if (table !== this.#prunedFor) this.#prune(table);
    const selection = chooseCertificate(table, servername);
    let context = selection && this.#context(selection.certificate);
    // A certificate OpenSSL refused falls back to the default, as a missing one does.
    if (!context && selection?.choice !== "default" && table.defaultCertificate) {
      context = this.#context(table.defaultCertificate);
    }
    if (!context) this.#reportMissing(table, servername);
    return context;
  }

  /**
   * The context a handshake on a socket made outside the server starts with (the PROXY
   * protocol handoff): the default certificate's, else one certificate-less context made
   * once — never a new one per connection, which costs an OpenSSL context build per
   * handshake and gives each connection its own session-ticket keys, so no client could
   * resume. Unlike {@link contextFor} it reports nothing: the SNI name is not known yet,
   * and a client that sends one gets its certificate from `SNICallback`.
   */
  initialContext(): tls.SecureContext {
    const table = this.#tables.current;
    if (table !== this.#prunedFor) this.#prune(table);
    const context = table.defaultCertificate && this.#context(table.defaultCertificate);
    return (
      context ??
      (this.#bare ??= tls.createSecureContext({
        minVersion: MIN_TLS_VERSION,
        ...(this.#ticketKeys ? { ticketKeys: this.#ticketKeys } : {}),
      }))
    );
  }

  /**
   * Makes the table's default certificate the listener's own context, the one used
   * for clients that send no SNI (Node only calls `SNICallback` when SNI is present).
   * Call after every publish; it does nothing when the default did not change.
   */
  applyDefault(server: tls.Server): void {
    const certificate = this.#tables.current.defaultCertificate;
    const key = certificate ? this.#keyOf(certificate) : "";
    if (key === this.#defaultKey) return;
    this.#defaultKey = key;
    try {
      server.setSecureContext(
        certificate
          ? { minVersion: MIN_TLS_VERSION, cert: certificate.certPem, key: certificate.keyPem }
          : { minVersion: MIN_TLS_VERSION },
      );
    } catch (err) {
      this.#publishFailure(certificate as TlsCertificate, err);
      server.setSecureContext({ minVersion: MIN_TLS_VERSION });
    }
  }

  /**
   * Reports a failed handshake of a client that sent no SNI when there is no
   * default certificate — a failure {@link contextFor} never sees.
   */
  noteFailedHandshakeWithoutSni(): void {
    const table = this.#tables.current;
    if (!table.defaultCertificate) this.#reportMissing(table, undefined);
  }

  /** Contexts currently cached (for tests and /debug/config). */
  get cachedContexts(): number {
    return this.#cache.size;
  }

  #keyOf(certificate: TlsCertificate): string {
    let key = this.#keys.get(certificate);
    if (key === undefined) this.#keys.set(certificate, (key = contentKey(certificate)));
    return key;
  }

  #context(certificate: TlsCertificate): tls.SecureContext | undefined {
    const key = this.#keyOf(certificate);
    if (this.#cache.has(key)) return this.#cache.get(key);
    let context: tls.SecureContext | undefined;
    try {
      context = tls.createSecureContext({
        minVersion: MIN_TLS_VERSION,
        cert: certificate.certPem,
        key: certificate.keyPem,
        // Used when this is the default certificate a PROXY handoff starts with.
        ...(this.#ticketKeys ? { ticketKeys: this.#ticketKeys } : {}),
      });
    } catch (err) {
      this.#publishFailure(certificate, err);
    }
    this.#cache.set(key, context);
    return context;
  }

  /** Drops contexts of certificates the new table no longer has (rotated or removed Secrets). */
  #prune(table: RoutingTable): void {
    this.#prunedFor = table;
    const live = new Set<string>();
    for (const certificate of table.certificates.values()) live.add(this.#keyOf(certificate));
    if (table.defaultCertificate) live.add(this.#keyOf(table.defaultCertificate));
    for (const key of this.#cache.keys()) if (!live.has(key)) this.#cache.delete(key);
  }

  #reportMissing(table: RoutingTable, servername: string | undefined): void {
    if (this.#reportedGeneration === table.generation) return;
    this.#reportedGeneration = table.generation;
    if (!tlsChannels.noCertificate.hasSubscribers) return;
    const event: TlsNoCertificate = {
      ...(servername ? { servername } : {}),
      generation: table.generation,
      noneAtAll: table.certificates.size === 0 && !table.defaultCertificate,
    };
    tlsChannels.noCertificate.publish(event);
  }

  #publishFailure(certificate: TlsCertificate, err: unknown): void {
    if (!tlsChannels.contextFailed.hasSubscribers) return;
    const event: TlsContextFailed = { secret: certificate.secret, error: (err as Error).message };
    tlsChannels.contextFailed.publish(event);
  }
}
