/**
 * Resolves TLS to a backend at compile time: the CA references (key `ca.crt` of a Secret or
 * ConfigMap) become one PEM bundle, checked to hold certificates, so the data plane gets
 * plain data it can turn into a SecureContext. No I/O: the objects come from the snapshot.
 */
import { X509Certificate } from "node:crypto";
import type { BackendTlsSpec } from "../api/route.js";
import type { BackendSubjectAltName, BackendTls } from "./table.js";

/** The key of a CA Secret or ConfigMap that holds the PEM certificates (Gateway API's rule). */
export const CA_CERTIFICATE_KEY = "ca.crt";

/** The objects CA references may name, looked up by `namespace/name`. */
export interface CaSources {
  /** A Secret's `data` (base64 values), if the Secret is in the snapshot. */
  secretData(key: string): Readonly<Record<string, string>> | undefined;
  /** A ConfigMap's `data` (plain values), if the ConfigMap is in the snapshot. */
  configMapData(key: string): Readonly<Record<string, string>> | undefined;
}

/** A CA reference: which kind of object, by name, in the referrer's namespace. */
export interface CaRef {
  readonly kind: string;
  readonly name: string;
}

/** What TLS to a backend should be, whoever asked for it (backendTLS, a BackendTLSPolicy, appProtocol). */
export interface BackendTlsRequest {
  /** Absent: the system's well-known CAs. */
  readonly caCertificateRefs?: readonly CaRef[];
  readonly hostname: string;
  readonly subjectAltNames?: readonly BackendSubjectAltName[];
}

/**
 * Why a backend's TLS cannot be set up (the backend is then not served: never plain text to
 * a TLS port). Reasons are Gateway API's BackendTLSPolicy ones.
 */
export interface BackendTlsProblem {
  readonly reason: "InvalidKind" | "InvalidCACertificateRef" | "NoValidCACertificate";
  readonly message: string;
}

export type BackendTlsResolution =
  | { readonly ok: true; readonly tls: BackendTls }
  | { readonly ok: false; readonly problem: BackendTlsProblem };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates of `text` that parse; the others are dropped. */
function certificatesOf(text: string): string[] {
  return (text.match(PEM_CERTIFICATE) ?? []).filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
}

/** A backendRef's `backendTLS` as a request (the spec's shape differs only in optionality). */
export function requestOf(spec: BackendTlsSpec): BackendTlsRequest {
  return {
    ...(spec.caCertificateRefs ? { caCertificateRefs: spec.caCertificateRefs } : {}),
    hostname: spec.hostname,
    ...(spec.subjectAltNames
      ? {
          subjectAltNames: spec.subjectAltNames.map((n): BackendSubjectAltName =>
            n.type === "URI"
              ? { type: "URI", uri: n.uri ?? "" }
              : { type: "Hostname", hostname: n.hostname ?? "" },
          ),
        }
      : {}),
  };
}

/**
 * Resolves `request` for a referrer in `namespace`. Every reference must resolve to a
 * `ca.crt` with at least one certificate: a partly broken bundle is refused rather than
 * silently trusting less (or, by a typo, nothing the operator meant).
 */
export function resolveBackendTls(
  request: BackendTlsRequest,
  namespace: string,
  sources: CaSources,
): BackendTlsResolution {
  const fail = (reason: BackendTlsProblem["reason"], message: string): BackendTlsResolution => ({
    ok: false,
    problem: { reason, message },
  });
  const base = {
    hostname: request.hostname,
    ...(request.subjectAltNames ? { subjectAltNames: request.subjectAltNames } : {}),
  };
  if (!request.caCertificateRefs) return { ok: true, tls: Object.freeze(base) };
  const bundle: string[] = [];
  for (const ref of request.caCertificateRefs) {
    const key = `${namespace}/${ref.name}`;
    let text: string | undefined;
    if (ref.kind === "ConfigMap") {
      const data = sources.configMapData(key);
      if (!data) return fail("InvalidCACertificateRef", `ConfigMap ${key} not found`);
      text = data[CA_CERTIFICATE_KEY];
    } else if (ref.kind === "Secret") {
      const data = sources.secretData(key);
      if (!data) return fail("InvalidCACertificateRef", `Secret ${key} not found`);
      const encoded = data[CA_CERTIFICATE_KEY];
      text = encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
    } else {
      return fail(
        "InvalidKind",
        `CA certificate ref ${ref.kind} ${key}: only ConfigMap and Secret are supported`,
      );
    }
    if (text === undefined)
      return fail("InvalidCACertificateRef", `${ref.kind} ${key} has no key ${CA_CERTIFICATE_KEY}`);
    const certificates = certificatesOf(text);
    if (certificates.length === 0) {
      return fail(
        "NoValidCACertificate",
        `${ref.kind} ${key}: ${CA_CERTIFICATE_KEY} holds no PEM certificate`,
      );
    }
    bundle.push(...certificates);
  }
  return { ok: true, tls: Object.freeze({ ...base, caPem: bundle.join("\n") }) };
}
