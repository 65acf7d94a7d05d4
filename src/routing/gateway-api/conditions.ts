/**
 * Conditions of Gateway API objects as the translation produces them (no clock, no
 * generation: the status writer stamps both), and the diagnostics compile() returns
 * for GatewayClasses, Gateways and HTTPRoutes.
 */
import type { ParentRef } from "../../api/gateway-api.js";
import type { BackendTlsPolicyDiagnostics } from "./backend-tls-status.js";

/** A `metav1.Condition` without `lastTransitionTime` and `observedGeneration`. */
export interface GatewayCondition {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
}

export function cond(
  type: string,
  status: GatewayCondition["status"],
  reason: string,
  message: string,
): GatewayCondition {
  return { type, status, reason, message };
}

/** Gateway API condition reasons used by wsgate (the upstream names, plus `Conflicted`). */
export const GatewayReason = {
  Accepted: "Accepted",
  Programmed: "Programmed",
  ResolvedRefs: "ResolvedRefs",
  SupportedVersion: "SupportedVersion",
  NoConflicts: "NoConflicts",
  Invalid: "Invalid",
  ListenersNotValid: "ListenersNotValid",
  UnsupportedAddress: "UnsupportedAddress",
  PortUnavailable: "PortUnavailable",
  UnsupportedProtocol: "UnsupportedProtocol",
  HostnameConflict: "HostnameConflict",
  InvalidCertificateRef: "InvalidCertificateRef",
  InvalidRouteKinds: "InvalidRouteKinds",
  RefNotPermitted: "RefNotPermitted",
  NotAllowedByListeners: "NotAllowedByListeners",
  NoMatchingListenerHostname: "NoMatchingListenerHostname",
  NoMatchingParent: "NoMatchingParent",
  UnsupportedValue: "UnsupportedValue",
  BackendNotFound: "BackendNotFound",
  InvalidKind: "InvalidKind",
  /** wsgate's: an older route (any kind) already serves one of the route's host+path pairs. */
  Conflicted: "Conflicted",
  Pending: "Pending",
} as const;

export interface GatewayClassDiagnostics {
  readonly name: string;
  readonly generation?: number;
  readonly conditions: readonly GatewayCondition[];
}

export interface ListenerDiagnostics {
  readonly name: string;
  readonly supportedKinds: readonly { group: string; kind: string }[];
  readonly attachedRoutes: number;
  readonly conditions: readonly GatewayCondition[];
}

export interface GatewayDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly conditions: readonly GatewayCondition[];
  readonly listeners: readonly ListenerDiagnostics[];
}

export interface RouteParentDiagnostics {
  /** The parentRef as written in the route (defaults filled in). */
  readonly parentRef: ParentRef;
  readonly conditions: readonly GatewayCondition[];
}

export interface HTTPRouteDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  /** One entry per parentRef naming a Gateway of a class wsgate serves. */
  readonly parents: readonly RouteParentDiagnostics[];
}

/** A WebSocketPolicy's conditions (Accepted; reasons TargetNotFound, Conflicted, Invalid). */
export interface PolicyDiagnostics {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly conditions: readonly GatewayCondition[];
}

/** What compile() found about the Gateway API objects; the status writer's input. */
export interface GatewayApiDiagnostics {
  readonly gatewayClasses: readonly GatewayClassDiagnostics[];
  readonly gateways: readonly GatewayDiagnostics[];
  readonly httpRoutes: readonly HTTPRouteDiagnostics[];
  readonly policies: readonly PolicyDiagnostics[];
  /** BackendTLSPolicies: their ancestors (our Gateways reaching a targeted Service) and verdicts. */
  readonly backendTlsPolicies?: readonly BackendTlsPolicyDiagnostics[];
}

export const EMPTY_GATEWAY_API_DIAGNOSTICS: GatewayApiDiagnostics = Object.freeze({
  gatewayClasses: [],
  gateways: [],
  httpRoutes: [],
  policies: [],
});
