/**
 * Resolves TLS to a backend at compile time: the CA references (key `ca.crt` of a Secret or
 * ConfigMap) become one PEM bundle, checked to hold certificates, so the data plane gets
 * plain data it can turn into a SecureContext. No I/O: the objects come from the snapshot.
 */
import { X509Certificate } from "node:crypto";
import { WSS_APP_PROTOCOL } from "../api/gateway-api.js";
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

/** The BackendTLSPolicy fields this index reads (the stored object's shape). */
export interface BackendTlsPolicyLike {
  readonly metadata: {
    readonly namespace: string;
    readonly name: string;
    readonly creationTimestamp?: string;
  };
  readonly spec: {
    readonly targetRefs: readonly { group: string; kind: string; name: string; sectionName?: string }[];
    readonly validation: {
      readonly caCertificateRefs: readonly { group: string; kind: string; name: string }[];
      readonly wellKnownCACertificates?: string;
      readonly hostname: string;
      readonly subjectAltNames: readonly { type: string; hostname?: string; uri?: string }[];
    };
  };
}

/** A Service port a policy can target: `sectionName` is the port's name. */
export interface PolicyTargetPort {
  readonly namespace: string;
  readonly service: string;
  readonly portName: string;
}

function olderFirst(a: BackendTlsPolicyLike, b: BackendTlsPolicyLike): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? "");
  const tb = Date.parse(b.metadata.creationTimestamp ?? "");
  const na = Number.isNaN(ta) ? -Infinity : ta;
  const nb = Number.isNaN(tb) ? -Infinity : tb;
  if (na !== nb) return na < nb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** A policy's validation as a request; an unknown subjectAltName type is dropped by the CRD already. */
export function policyRequest(policy: BackendTlsPolicyLike): BackendTlsRequest {
  const v = policy.spec.validation;
  const sans = v.subjectAltNames.map((n): BackendSubjectAltName =>
    n.type === "URI" ? { type: "URI", uri: n.uri ?? "" } : { type: "Hostname", hostname: n.hostname ?? "" },
  );
  return {
    // Gateway API: CA refs are core-group objects; another group is an invalid kind.
    ...(v.caCertificateRefs.length > 0
      ? {
          caCertificateRefs: v.caCertificateRefs.map((r) => ({
            kind: r.group === "" ? r.kind : `${r.group}/${r.kind}`,
            name: r.name,
          })),
        }
      : {}),
    hostname: v.hostname,
    ...(sans.length > 0 ? { subjectAltNames: sans } : {}),
  };
}

/**
 * BackendTLSPolicies by the Service port they target. A policy naming a port (`sectionName`)
 * is more specific than one naming the whole Service; between two of the same kind the
 * older (creationTimestamp, then namespace/name) holds the target, as Gateway API says.
 */
export class BackendTlsPolicies {
  /** `ns/service` or `ns/service#portName` → the policy holding it. */
  readonly #byTarget = new Map<string, BackendTlsPolicyLike>();

  constructor(policies: readonly BackendTlsPolicyLike[]) {
    for (const policy of [...policies].sort(olderFirst)) {
      for (const t of policy.spec.targetRefs) {
        if (t.group !== "" || t.kind !== "Service") continue;
        const key = `${policy.metadata.namespace}/${t.name}${t.sectionName === undefined ? "" : `#${t.sectionName}`}`;
        if (!this.#byTarget.has(key)) this.#byTarget.set(key, policy);
      }
    }
  }

  /**
   * The policy holding exactly this target (a Service, or one port of it by `sectionName`):
   * a policy that targets it but is not the holder is in conflict (see gateway-api/backend-tls-status.ts).
   */
  holderOf(namespace: string, service: string, sectionName?: string): BackendTlsPolicyLike | undefined {
    return this.#byTarget.get(`${namespace}/${service}${sectionName === undefined ? "" : `#${sectionName}`}`);
  }

  /** How many Services and Service ports a policy targets. */
  get size(): number {
    return this.#byTarget.size;
  }

  /** The policy that applies to a Service port, if any. */
  policyFor(target: PolicyTargetPort): BackendTlsPolicyLike | undefined {
    // Asked for every backendRef of every compile; most clusters have no policy at all.
    if (this.#byTarget.size === 0) return undefined;
    const service = `${target.namespace}/${target.service}`;
    return (
      (target.portName ? this.#byTarget.get(`${service}#${target.portName}`) : undefined) ??
      this.#byTarget.get(service)
    );
  }

  /**
   * What TLS a backend on this port needs when its backendRef says nothing itself: its
   * policy's, else — for an `appProtocol: kubernetes.io/wss` port — the system CAs and the
   * Service's cluster DNS name; undefined: plain text.
   */
  requestFor(target: PolicyTargetPort, appProtocol: string | undefined): BackendTlsRequest | undefined {
    const policy = this.policyFor(target);
    if (policy) return policyRequest(policy);
    if (appProtocol === WSS_APP_PROTOCOL) return { hostname: `${target.service}.${target.namespace}.svc` };
    return undefined;
  }
}
