/**
 * TLS to backends, on the data plane's side: a compiled {@link BackendTls} (plain data that
 * crossed to this thread with the table) becomes connection options with a SecureContext
 * built once, a certificate check by hostname or subjectAltNames, and an https Agent for
 * plain HTTP. The check always fails closed: a certificate that does not verify ends the
 * attempt before one byte of the request is sent.
 */
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import type { BackendTls, Endpoint } from "../routing/table.js";
import { BACKEND_READ } from "./backend-read.js";

/**
 * OpenSSL's certificate verification errors as Node reports them in `error.code`, plus our
 * own subjectAltName mismatch: what makes a failure `backend_tls` rather than `backend_refused`.
 */
const VERIFY_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * True for an error of a TLS handshake with a backend: its certificate failed verification
 * (untrusted CA, wrong name, expired) or the handshake itself failed (`ERR_SSL_*`, e.g. the
 * port speaks plain HTTP).
 */
export function isBackendTlsFailure(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  return VERIFY_CODES.has(code) || code.startsWith("ERR_SSL_");
}

function altNameMismatch(message: string): Error {
  return Object.assign(new Error(message), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
}

/** The certificate's subjectAltName entries, e.g. `DNS:chat.apps.svc`, `URI:spiffe://…`. */
function altNames(cert: tls.PeerCertificate): string[] {
  return (cert.subjectaltname ?? "").split(",").map((s) => s.trim());
}

/**
 * Gateway API's rule: with subjectAltNames, the certificate must carry one of them (and the
 * hostname is only SNI); without, it must carry the hostname.
 */
function identityCheck(config: BackendTls): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  const sans = config.subjectAltNames;
  if (!sans) return (_host, cert) => tls.checkServerIdentity(config.hostname, cert);
  return (_host, cert) => {
    const carried = altNames(cert);
    for (const san of sans) {
      if (san.type === "URI") {
        if (carried.includes(`URI:${san.uri}`)) return undefined;
      } else if (san.hostname.startsWith("*.")) {
        // A wildcard SAN asks for that very wildcard entry in the certificate.
        if (carried.includes(`DNS:${san.hostname}`)) return undefined;
      } else if (tls.checkServerIdentity(san.hostname, cert) === undefined) {
        return undefined;
      }
    }
    const wanted = sans.map((s) => (s.type === "URI" ? s.uri : s.hostname)).join(", ");
    return altNameMismatch(`backend certificate carries none of the subjectAltNames ${wanted}`);
  };
}

/**
 * Options per distinct configuration. Keyed by content, not object: every table a worker
 * receives is a fresh clone, and a SecureContext (parsing the CA bundle) per table would be
 * waste. The map only grows with distinct CA/name configurations.
 */
const optionsByConfig = new Map<string, tls.ConnectionOptions>();

function configKey(config: BackendTls): string {
  return JSON.stringify([config.caPem ?? null, config.hostname, config.subjectAltNames ?? null]);
}

/** Connection options that verify a backend as `config` says (SecureContext built once per configuration). */
export function backendTlsOptions(config: BackendTls): tls.ConnectionOptions {
  const key = configKey(config);
  let options = optionsByConfig.get(key);
  if (!options) {
    options = Object.freeze({
      // No `ca`: Node's bundled well-known CAs (wellKnownCACertificates: System).
      secureContext: tls.createSecureContext(config.caPem === undefined ? {} : { ca: config.caPem }),
      servername: config.hostname,
      rejectUnauthorized: true,
      checkServerIdentity: identityCheck(config),
      // WebSocket upgrades are HTTP/1.1: never negotiate h2 with the backend.
      ALPNProtocols: ["http/1.1"],
    });
    optionsByConfig.set(key, options);
  }
  return options;
}

/** Opens a TLS connection to one endpoint of a TLS backend. */
export function connectTls(endpoint: Endpoint, config: BackendTls): tls.TLSSocket {
  const socket = tls.connect({ ...backendTlsOptions(config), host: endpoint.address, port: endpoint.port });
  socket.setNoDelay(true);
  return socket;
}

/** Opens the connection for an upgrade: TLS when the backend asks for it, else plain TCP. */
export function connectEndpoint(endpoint: Endpoint, config: BackendTls | undefined): net.Socket {
  return config
    ? connectTls(endpoint, config)
    : // Read through one shared buffer (backend-read.ts): Node's per-read allocation and
      // Readable detour were a large share of the relay's CPU per message (bench W2).
      net.connect({ host: endpoint.address, port: endpoint.port, noDelay: true, onread: BACKEND_READ });
}

/**
 * Keep-alive https Agents for plain HTTP to TLS backends, one per configuration; the
 * forwarder that owns them destroys them on close.
 */
export class BackendTlsAgents {
  readonly #agents = new Map<string, https.Agent>();

  /** The Agent for backends verified as `config` says. */
  agentFor(config: BackendTls): https.Agent {
    const key = configKey(config);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new https.Agent({ keepAlive: true, maxFreeSockets: 64, ...backendTlsOptions(config) });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
