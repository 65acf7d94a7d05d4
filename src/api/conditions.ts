/**
 * Route conditions, Gateway API style (`metav1.Condition`). compile() produces
 * them without timestamps (it has no clock); {@link stampConditions} adds
 * `lastTransitionTime`, changing it only when a condition's status flips.
 */
import type { Condition } from "./route.js";

export const ConditionType = {
  /** The route is valid, claimed by this gateway and not in conflict. */
  Accepted: "Accepted",
  /** Every Service and Secret the route names exists and is usable. */
  ResolvedRefs: "ResolvedRefs",
  /** The route is in the serving table with at least one ready endpoint. */
  Programmed: "Programmed",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  Accepted: "Accepted",
  /** The spec fails validation; the message says which field. */
  Invalid: "Invalid",
  /** An older route already claims one of this route's host+path pairs or TLS hosts. */
  Conflicted: "Conflicted",
  /**
   * A hostname of the route (or "any host") belongs to another namespace: the one of
   * the oldest route claiming it. The message names the owner. See
   * `--allow-cross-namespace-hostnames`.
   */
  HostnameConflict: "HostnameConflict",
  /** The route's ingressClassName belongs to another controller. */
  NotClaimed: "NotClaimed",
  ResolvedRefs: "ResolvedRefs",
  /** A backendRef names a Service or Service port that does not exist. */
  BackendNotFound: "BackendNotFound",
  /** `spec.tls.secretName` (or an auth key Secret) does not exist. */
  SecretNotFound: "SecretNotFound",
  /** The TLS Secret exists but is not a usable kubernetes.io/tls certificate and key. */
  InvalidCertificate: "InvalidCertificate",
  /** The `spec.auth.jwt.keys.secretRef` value is not a usable JWKS, PEM public key or HMAC secret. */
  InvalidKey: "InvalidKey",
  /** A backendRef's `backendTLS.caCertificateRefs` names a Secret or ConfigMap that is missing or has no `ca.crt`. */
  InvalidCACertificateRef: "InvalidCACertificateRef",
  /** A `backendTLS` CA object's `ca.crt` holds no PEM certificate. */
  NoValidCACertificate: "NoValidCACertificate",
  Programmed: "Programmed",
  /** The route is served but has no ready endpoint; handshakes get 503. */
  NoReadyEndpoints: "NoReadyEndpoints",
  /** The route cannot be served until the problems reported by Accepted/ResolvedRefs are fixed. */
  Pending: "Pending",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** A condition as compile() produces it: no clock, no generation. */
export interface ConditionVerdict {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: Reason;
  message: string;
}

/**
 * Gives each verdict a `lastTransitionTime`: the previous one when the status did
 * not change, `now` when it did or the condition is new.
 */
export function stampConditions(
  previous: readonly Condition[],
  verdicts: readonly ConditionVerdict[],
  now: Date,
  observedGeneration?: number,
): Condition[] {
  return verdicts.map((v) => {
    const before = previous.find((c) => c.type === v.type);
    const lastTransitionTime =
      before && before.status === v.status
        ? before.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, "Z");
    return {
      ...v,
      lastTransitionTime,
      ...(observedGeneration === undefined ? {} : { observedGeneration }),
    };
  });
}
