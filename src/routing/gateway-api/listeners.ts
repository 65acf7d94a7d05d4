/**
 * GatewayClasses and Gateways of wsgate's controller, and which of their listeners it
 * can serve. wsgate is static infrastructure (as Contour without its provisioner): the
 * Deployment's own two listeners serve every Gateway of the class, by this table:
 *
 * | listener protocol | listener port                    | served by                 |
 * |-------------------|----------------------------------|---------------------------|
 * | HTTP              | 80, or the --http-listen port    | the http listener         |
 * | HTTPS (Terminate) | 443, or the --https-listen port  | the https listener (SNI)  |
 * | HTTP/HTTPS        | any other port                   | nothing: `PortUnavailable`|
 * | TLS, TCP, UDP, …  | any                              | nothing: `UnsupportedProtocol` |
 */
import { GATEWAY_GROUP, type Gateway, type GatewayClass, type Listener } from "../../api/gateway-api.js";
import type { Secret } from "../../api/objects.js";
import { checkCertificate } from "../certificate.js";
import type { TlsCertificate } from "../table.js";
import {
  cond,
  GatewayReason as R,
  type GatewayClassDiagnostics,
  type GatewayCondition,
} from "./conditions.js";
import type { ReferenceGrants } from "./grants.js";

export interface GatewayApiOptions {
  /** `spec.controllerName` of the GatewayClasses served (--gateway-class-controller). */
  readonly controllerName: string;
  /** Listener ports served by the http listener (80 and the --http-listen port). */
  readonly httpPorts: readonly number[];
  /** Listener ports served by the https listener (443 and the --https-listen port). */
  readonly httpsPorts: readonly number[];
}

/** The route kinds an HTTP/HTTPS listener of wsgate accepts. */
export const SUPPORTED_KINDS = Object.freeze([{ group: GATEWAY_GROUP, kind: "HTTPRoute" }]);

/** One listener of a Gateway of our class, judged. */
export interface ListenerState {
  readonly gateway: Gateway;
  readonly listener: Listener;
  /**
   * Routes may attach and are counted in `attachedRoutes` (Accepted, not Conflicted), even
   * while the listener's own refs are unresolved (a missing certificate), as Gateway API says.
   */
  readonly attachable: boolean;
  /** Attached routes are served: attachable, and its refs resolved (route kinds aside). */
  readonly usable: boolean;
  readonly conditions: {
    accepted: GatewayCondition;
    resolvedRefs: GatewayCondition;
    conflicted: GatewayCondition;
  };
  /** The Secret of an HTTPS listener, when it resolved to a usable certificate. */
  readonly certificate?: TlsCertificate;
  /** Routes attached so far (counted by the route translation). */
  attachedRoutes: number;
}

export interface GatewayState {
  readonly gateway: Gateway;
  readonly listeners: ListenerState[];
  /** `spec.addresses` cannot be honoured: wsgate's address is its Service's. */
  readonly unsupportedAddress: boolean;
}

export interface GatewaysJudged {
  readonly classes: GatewayClassDiagnostics[];
  /** Gateways of a class wsgate serves, by `namespace/name`. */
  readonly gateways: Map<string, GatewayState>;
}

function ourClasses(classes: readonly GatewayClass[], options: GatewayApiOptions): GatewayClass[] {
  return classes.filter((c) => c.spec.controllerName === options.controllerName);
}

function classDiagnostics(c: GatewayClass): GatewayClassDiagnostics {
  return {
    name: c.metadata.name,
    ...(c.metadata.generation === undefined ? {} : { generation: c.metadata.generation }),
    conditions: [
      cond("Accepted", "True", R.Accepted, "Served by wsgate's own listeners"),
      cond("SupportedVersion", "True", R.SupportedVersion, "Gateway API v1 (standard channel)"),
    ],
  };
}

function listenerCertificate(
  gateway: Gateway,
  listener: Listener,
  secrets: ReadonlyMap<string, Secret>,
  grants: ReferenceGrants,
): { certificate?: TlsCertificate; problem?: GatewayCondition } {
  const refs = listener.tls?.certificateRefs ?? [];
  const ns = gateway.metadata.namespace;
  if (listener.tls?.mode !== undefined && listener.tls.mode !== "Terminate") {
    return {
      problem: cond(
        "ResolvedRefs",
        "False",
        R.InvalidCertificateRef,
        `tls.mode ${listener.tls.mode} is not supported: wsgate terminates TLS`,
      ),
    };
  }
  const ref = refs[0];
  if (!ref) {
    return {
      problem: cond(
        "ResolvedRefs",
        "False",
        R.InvalidCertificateRef,
        "an HTTPS listener needs tls.certificateRefs",
      ),
    };
  }
  const refNs = ref.namespace ?? ns;
  if (ref.group !== "" || ref.kind !== "Secret") {
    return {
      problem: cond(
        "ResolvedRefs",
        "False",
        R.InvalidCertificateRef,
        `certificateRef ${ref.kind} ${ref.name}: only core Secrets are supported`,
      ),
    };
  }
  if (
    !grants.allows(
      { group: GATEWAY_GROUP, kind: "Gateway", namespace: ns },
      { group: "", kind: "Secret", namespace: refNs, name: ref.name },
    )
  ) {
    return {
      problem: cond(
        "ResolvedRefs",
        "False",
        R.RefNotPermitted,
        `Secret ${refNs}/${ref.name} is in another namespace and no ReferenceGrant there allows it`,
      ),
    };
  }
  const key = `${refNs}/${ref.name}`;
  const secret = secrets.get(key);
  if (!secret)
    return { problem: cond("ResolvedRefs", "False", R.InvalidCertificateRef, `Secret ${key} not found`) };
  const checked = checkCertificate(secret);
  if (!checked.ok)
    return {
      problem: cond("ResolvedRefs", "False", R.InvalidCertificateRef, `Secret ${key}: ${checked.problem}`),
    };
  return { certificate: { secret: key, certPem: checked.certPem, keyPem: checked.keyPem } };
}

function judgeListener(
  gateway: Gateway,
  listener: Listener,
  options: GatewayApiOptions,
  secrets: ReadonlyMap<string, Secret>,
  grants: ReferenceGrants,
): Omit<ListenerState, "conditions" | "attachable" | "usable" | "attachedRoutes"> & {
  accepted: GatewayCondition;
  resolvedRefs: GatewayCondition;
} {
  let accepted = cond("Accepted", "True", R.Accepted, "Listener accepted");
  let resolvedRefs = cond("ResolvedRefs", "True", R.ResolvedRefs, "All references resolved");
  let certificate: TlsCertificate | undefined;
  if (listener.protocol === "HTTP") {
    if (!options.httpPorts.includes(listener.port))
      accepted = cond(
        "Accepted",
        "False",
        R.PortUnavailable,
        `HTTP is served on port ${options.httpPorts.join(" or ")}, not ${listener.port}`,
      );
  } else if (listener.protocol === "HTTPS") {
    if (!options.httpsPorts.includes(listener.port))
      accepted = cond(
        "Accepted",
        "False",
        R.PortUnavailable,
        `HTTPS is served on port ${options.httpsPorts.join(" or ")}, not ${listener.port}`,
      );
    const tls = listenerCertificate(gateway, listener, secrets, grants);
    if (tls.problem) resolvedRefs = tls.problem;
    certificate = tls.certificate;
  } else {
    accepted = cond(
      "Accepted",
      "False",
      R.UnsupportedProtocol,
      `protocol ${listener.protocol} is not served; wsgate serves HTTP and HTTPS`,
    );
  }
  const kinds = listener.allowedRoutes.kinds;
  if (resolvedRefs.status === "True" && kinds !== undefined) {
    const bad = kinds.filter((k) => !(k.group === GATEWAY_GROUP && k.kind === "HTTPRoute"));
    if (bad.length > 0)
      resolvedRefs = cond(
        "ResolvedRefs",
        "False",
        R.InvalidRouteKinds,
        `route kinds ${bad.map((k) => `${k.group}/${k.kind}`).join(", ")} are not supported; only HTTPRoute is`,
      );
  }
  return { gateway, listener, accepted, resolvedRefs, ...(certificate ? { certificate } : {}) };
}

/**
 * Which listeners routes attach to (accepted, not in conflict) and which serve them (also
 * their refs resolved; ResolvedRefs problems of kinds only reduce the kinds).
 */
export function judgeGateways(
  classes: readonly GatewayClass[],
  gateways: readonly Gateway[],
  options: GatewayApiOptions,
  secrets: ReadonlyMap<string, Secret>,
  grants: ReferenceGrants,
): GatewaysJudged {
  const ours = ourClasses(classes, options);
  const names = new Set(ours.map((c) => c.metadata.name));
  const states = new Map<string, GatewayState>();
  for (const gateway of gateways) {
    if (!names.has(gateway.spec.gatewayClassName)) continue;
    const judged = gateway.spec.listeners.map((l) => judgeListener(gateway, l, options, secrets, grants));
    // Two listeners of one Gateway on the same port and hostname cannot be told apart.
    const seen = new Map<string, number>();
    for (const j of judged) {
      const id = `${j.listener.port} ${j.listener.hostname ?? ""}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    const listeners = judged.map((j): ListenerState => {
      const clash = (seen.get(`${j.listener.port} ${j.listener.hostname ?? ""}`) ?? 0) > 1;
      const conflicted = clash
        ? cond(
            "Conflicted",
            "True",
            R.HostnameConflict,
            `another listener has port ${j.listener.port} and the same hostname`,
          )
        : cond("Conflicted", "False", R.NoConflicts, "No conflicts");
      const kindsOnly = j.resolvedRefs.reason === R.InvalidRouteKinds;
      const attachable = j.accepted.status === "True" && !clash;
      return {
        gateway,
        listener: j.listener,
        attachable,
        usable: attachable && (j.resolvedRefs.status === "True" || kindsOnly),
        conditions: { accepted: j.accepted, resolvedRefs: j.resolvedRefs, conflicted },
        ...(j.certificate ? { certificate: j.certificate } : {}),
        attachedRoutes: 0,
      };
    });
    states.set(`${gateway.metadata.namespace}/${gateway.metadata.name}`, {
      gateway,
      listeners,
      unsupportedAddress: (gateway.spec.addresses ?? []).length > 0,
    });
  }
  return { classes: ours.map(classDiagnostics), gateways: states };
}

/** True when the listener's allowedRoutes.kinds admit HTTPRoutes. */
export function admitsHTTPRoutes(listener: Listener): boolean {
  const kinds = listener.allowedRoutes.kinds;
  return (
    kinds === undefined ||
    kinds.length === 0 ||
    kinds.some((k) => k.group === GATEWAY_GROUP && k.kind === "HTTPRoute")
  );
}
