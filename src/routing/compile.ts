/**
 * compile(snapshot) → { table, diagnostics }: the whole control-plane logic as one
 * pure, deterministic function. No I/O, no clock, no throwing on bad input — a bad
 * route becomes conditions and every other route keeps working.
 */
import { ConditionType, Reason, type ConditionVerdict } from "../api/conditions.js";
import { SERVICE_NAME_LABEL, type EndpointSlice, type Secret, type Service } from "../api/objects.js";
import type { WebSocketRoute } from "../api/route.js";
import { resolveAuth } from "./auth.js";
import { checkCertificate } from "./certificate.js";
import { HostnameOwnership, describeHostname, type ForeignClaim } from "./hostname-ownership.js";
import { matchesOf, routeSettings, semanticProblems } from "./route-settings.js";
import { isInvalidRoute, type InvalidRoute, type Snapshot } from "./store.js";
import {
  buildTable,
  canonicalPrefix,
  type Backend,
  type Endpoint,
  type Route,
  type RouteDiagnostics,
  type RoutingTable,
  type Rule,
  type TlsCertificate,
} from "./table.js";

export interface CompileOptions {
  /** Routes whose `ingressClassName` is absent or equal to this are ours. */
  readonly ingressClass: string;
  /** The generation the resulting table will carry. */
  readonly generation: number;
  /** `namespace/name` of the kubernetes.io/tls Secret served for no or unknown SNI. */
  readonly defaultTlsSecret?: string;
  /**
   * `--allow-cross-namespace-hostnames` (ingress-nginx's behaviour): routes of any
   * namespace may share a hostname. Off by default: a hostname belongs to one namespace.
   */
  readonly allowCrossNamespaceHostnames?: boolean;
}

export interface CompileResult {
  readonly table: RoutingTable;
  /** One entry per route in the snapshot, sorted by `namespace/name`. */
  readonly diagnostics: readonly RouteDiagnostics[];
  /** Why `defaultTlsSecret` is not served, when it is set and unusable. */
  readonly defaultTlsProblem?: string;
}

type AnyRoute = WebSocketRoute | InvalidRoute;

/** Older first (creationTimestamp, then namespace/name): the precedence for conflicts. */
function byAge(a: AnyRoute, b: AnyRoute): number {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Creation time in ms. Compared as instants, not strings, so hand-written offsets and
 * fractions order correctly; a route without one (or with garbage) counts as oldest.
 */
function createdAt(route: AnyRoute): number {
  const parsed = Date.parse(route.metadata.creationTimestamp ?? "");
  return Number.isNaN(parsed) ? -Infinity : parsed;
}

function condition(
  type: ConditionVerdict["type"],
  status: ConditionVerdict["status"],
  reason: ConditionVerdict["reason"],
  message: string,
): ConditionVerdict {
  return { type, status, reason, message };
}

/** Indexes of the snapshot the compiler looks things up in. */
class Lookup {
  readonly services = new Map<string, Service>();
  readonly secrets = new Map<string, Secret>();
  readonly slicesByService = new Map<string, EndpointSlice[]>();

  constructor(snapshot: Snapshot) {
    for (const s of snapshot.services) this.services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const s of snapshot.secrets) this.secrets.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const slice of snapshot.endpointSlices) {
      const service = slice.metadata.labels[SERVICE_NAME_LABEL];
      if (!service) continue;
      const key = `${slice.metadata.namespace}/${service}`;
      const list = this.slicesByService.get(key) ?? [];
      list.push(slice);
      this.slicesByService.set(key, list);
    }
  }
}

interface ResolvedBackends {
  rules: Rule[];
  missing: string[];
  ready: number;
  total: number;
  /** Ready endpoints that can take a connection: their backendRef's weight is above 0. */
  routable: number;
}

/**
 * kube-proxy's resolution: backendRef port → ServicePort → its name → the port of
 * that name in the Service's EndpointSlices.
 */
function resolveBackends(route: WebSocketRoute, lookup: Lookup): ResolvedBackends {
  const ns = route.metadata.namespace;
  const routeKey = `${ns}/${route.metadata.name}`;
  const missing: string[] = [];
  const readyIds = new Set<string>();
  const routableIds = new Set<string>();
  const allIds = new Set<string>();
  const rules = route.spec.rules.map((rule, index): Rule => {
    const backends: Backend[] = [];
    for (const ref of rule.backendRefs) {
      const service = lookup.services.get(`${ns}/${ref.name}`);
      if (!service) {
        missing.push(`Service ${ns}/${ref.name} not found`);
        continue;
      }
      const servicePort = service.spec.ports.find((p) => p.port === ref.port && p.protocol === "TCP");
      if (!servicePort) {
        missing.push(`Service ${ns}/${ref.name} has no TCP port ${ref.port}`);
        continue;
      }
      const key = `${ns}/${ref.name}:${ref.port}`;
      const byAddress = new Map<
        string,
        { address: string; port: number; ready: boolean; terminating: boolean }
      >();
      for (const slice of lookup.slicesByService.get(`${ns}/${ref.name}`) ?? []) {
        if (slice.addressType === "FQDN") continue;
        const slicePort = slice.ports.find(
          (p) => (p.name ?? "") === (servicePort.name ?? "") && p.protocol === "TCP" && p.port !== undefined,
        );
        if (!slicePort) continue;
        for (const ep of slice.endpoints) {
          const address = ep.addresses[0] as string;
          const terminating = ep.conditions.terminating === true;
          const ready = ep.conditions.ready !== false && !terminating;
          const id = `${key}@${address.includes(":") ? `[${address}]` : address}:${slicePort.port}`;
          const seen = byAddress.get(id);
          // The same address may sit in two slices while they hand over; readiness wins, and
          // between two not-ready copies terminating sticks — whatever order the slices come in.
          if (!seen || (ready && !seen.ready) || (ready === seen.ready && terminating && !seen.terminating)) {
            byAddress.set(id, { address, port: slicePort.port as number, ready, terminating });
          }
        }
      }
      const ids = [...byAddress.keys()].sort();
      const readyCount = ids.filter((id) => byAddress.get(id)?.ready).length;
      const endpoints: Endpoint[] = ids.map((id) => {
        const e = byAddress.get(id) as {
          address: string;
          port: number;
          ready: boolean;
          terminating: boolean;
        };
        allIds.add(id);
        if (e.ready) readyIds.add(id);
        if (e.ready && ref.weight > 0) routableIds.add(id);
        return Object.freeze({
          id,
          backend: key,
          ...e,
          weight: e.ready && readyCount > 0 ? ref.weight / readyCount : 0,
        });
      });
      backends.push(Object.freeze({ key, weight: ref.weight, endpoints: Object.freeze(endpoints) }));
    }
    return Object.freeze({
      key: `${routeKey}#${index}`,
      matches: Object.freeze(matchesOf(rule).map((m) => Object.freeze({ ...m.path }))),
      backends: Object.freeze(backends),
    });
  });
  return { rules, missing, ready: readyIds.size, total: allIds.size, routable: routableIds.size };
}

/** The host+path pairs a route claims; `""` stands for "any host". */
function claimsOf(route: WebSocketRoute): string[] {
  const hosts = route.spec.hostnames.length > 0 ? route.spec.hostnames : [""];
  const claims = new Set<string>();
  for (const rule of route.spec.rules) {
    for (const m of matchesOf(rule)) {
      const value = m.path.type === "PathPrefix" ? canonicalPrefix(m.path.value) : m.path.value;
      for (const h of hosts) claims.add(`${h} ${m.path.type} ${value}`);
    }
  }
  return [...claims];
}

/** Routes of another class are not ours: they neither claim hostnames nor get status. */
function isOurClass(route: WebSocketRoute, options: CompileOptions): boolean {
  const routeClass = route.spec.ingressClassName;
  return routeClass === undefined || routeClass === options.ingressClass;
}

function ownedElsewhere({ hostname, owner }: ForeignClaim): string {
  return `${describeHostname(hostname)} belongs to namespace ${owner.namespace} (its oldest route is ${owner.route})`;
}

function describeClaim(claim: string): string {
  // Host and type never hold a space; the path value may.
  const [host, type, ...value] = claim.split(" ");
  return `${host || "(any host)"} ${type} ${value.join(" ")}`;
}

/** The `--default-tls-secret` certificate, checked like a route's. */
function defaultCertificate(
  lookup: Lookup,
  secretKey: string | undefined,
): { certificate?: TlsCertificate; problem?: string } {
  if (secretKey === undefined) return {};
  const secret = lookup.secrets.get(secretKey);
  if (!secret) return { problem: `default TLS Secret ${secretKey} not found` };
  const checked = checkCertificate(secret);
  if (!checked.ok) return { problem: `default TLS Secret ${secretKey}: ${checked.problem}` };
  return { certificate: { secret: secretKey, certPem: checked.certPem, keyPem: checked.keyPem } };
}

/**
 * Compiles a snapshot into a routing table and per-route diagnostics.
 * Pure and deterministic: the same snapshot and options give the same result.
 */
export function compile(snapshot: Snapshot, options: CompileOptions): CompileResult {
  const lookup = new Lookup(snapshot);
  const claimedBy = new Map<string, string>();
  const tlsHosts = new Map<string, TlsCertificate>();
  const served: Route[] = [];
  const diagnostics: RouteDiagnostics[] = [];
  const oldestFirst = [...snapshot.routes].sort(byAge);
  const ownership = new HostnameOwnership(
    oldestFirst.filter((r): r is WebSocketRoute => !isInvalidRoute(r) && isOurClass(r, options)),
  );

  for (const route of oldestFirst) {
    const { namespace, name, generation } = route.metadata;
    const key = `${namespace}/${name}`;
    const base = { namespace, name, ...(generation === undefined ? {} : { generation }) };

    if (isInvalidRoute(route)) {
      diagnostics.push({
        ...base,
        claimed: true,
        conditions: [
          condition(ConditionType.Accepted, "False", Reason.Invalid, route.errors.join("; ")),
          condition(
            ConditionType.ResolvedRefs,
            "Unknown",
            Reason.Pending,
            "References are checked once the route is valid",
          ),
          condition(
            ConditionType.Programmed,
            "False",
            Reason.Pending,
            "The route is not served until it is valid",
          ),
        ],
        endpoints: { ready: 0, total: 0 },
      });
      continue;
    }

    const routeClass = route.spec.ingressClassName;
    if (routeClass !== undefined && routeClass !== options.ingressClass) {
      diagnostics.push({
        ...base,
        claimed: false,
        conditions: [
          condition(
            ConditionType.Accepted,
            "False",
            Reason.NotClaimed,
            `ingressClassName "${routeClass}" is not this gateway's class "${options.ingressClass}"`,
          ),
        ],
        endpoints: { ready: 0, total: 0 },
      });
      continue;
    }

    const resolved = resolveBackends(route, lookup);
    const refProblems: { reason: Reason; message: string }[] = resolved.missing.map((message) => ({
      reason: Reason.BackendNotFound,
      message,
    }));
    let certificate: TlsCertificate | undefined;
    if (route.spec.tls) {
      const secretKey = `${namespace}/${route.spec.tls.secretName}`;
      const secret = lookup.secrets.get(secretKey);
      if (!secret) {
        refProblems.push({ reason: Reason.SecretNotFound, message: `Secret ${secretKey} not found` });
      } else {
        const checked = checkCertificate(secret);
        if (checked.ok) certificate = { secret: secretKey, certPem: checked.certPem, keyPem: checked.keyPem };
        else
          refProblems.push({
            reason: Reason.InvalidCertificate,
            message: `Secret ${secretKey}: ${checked.problem}`,
          });
      }
    }
    const auth = resolveAuth(route, lookup.secrets);
    if (auth.problem) refProblems.push({ ...auth.problem, reason: Reason[auth.problem.reason] });
    const resolvedRefs =
      refProblems.length === 0
        ? condition(ConditionType.ResolvedRefs, "True", Reason.ResolvedRefs, "All references resolved")
        : condition(
            ConditionType.ResolvedRefs,
            "False",
            (refProblems[0] as { reason: Reason }).reason,
            refProblems.map((p) => p.message).join("; "),
          );

    let accepted: ConditionVerdict;
    const problems = semanticProblems(route);
    const claims = claimsOf(route);
    const conflict = claims.find((c) => claimedBy.has(c));
    // Tenants stay in their namespace; with the opt-out, certificates still come from the owner's.
    const foreign = ownership.foreignClaim(route);
    const hostnameConflict = options.allowCrossNamespaceHostnames ? undefined : foreign;
    const foreignTls = options.allowCrossNamespaceHostnames && certificate ? foreign : undefined;
    const tlsConflict = certificate
      ? route.spec.hostnames.find((h) => {
          const other = tlsHosts.get(h);
          return other !== undefined && other.secret !== certificate.secret;
        })
      : undefined;
    if (problems.length > 0) {
      accepted = condition(ConditionType.Accepted, "False", Reason.Invalid, problems.join("; "));
    } else if (hostnameConflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.HostnameConflict,
        `${ownedElsewhere(hostnameConflict)}; routes of other namespaces cannot claim it unless the gateway runs with --allow-cross-namespace-hostnames`,
      );
    } else if (foreignTls !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.HostnameConflict,
        `${ownedElsewhere(foreignTls)}, and its TLS certificate comes from that namespace only: remove spec.tls from this route`,
      );
    } else if (conflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.Conflicted,
        `${describeClaim(conflict)} is already served by the older route ${claimedBy.get(conflict)}`,
      );
    } else if (tlsConflict !== undefined) {
      accepted = condition(
        ConditionType.Accepted,
        "False",
        Reason.Conflicted,
        `hostname ${tlsConflict} already has the TLS Secret ${tlsHosts.get(tlsConflict)?.secret} from an older route`,
      );
    } else {
      accepted = condition(ConditionType.Accepted, "True", Reason.Accepted, "Route accepted");
      for (const c of claims) claimedBy.set(c, key);
      if (certificate)
        for (const h of route.spec.hostnames) if (!tlsHosts.has(h)) tlsHosts.set(h, certificate);
      served.push(
        Object.freeze({
          namespace,
          name,
          key,
          hostnames: Object.freeze([...route.spec.hostnames]),
          rules: Object.freeze(resolved.rules),
          settings: routeSettings(route, auth.auth),
        }),
      );
    }

    const programmed =
      accepted.status !== "True"
        ? condition(
            ConditionType.Programmed,
            "False",
            Reason.Pending,
            "The route is not served until it is accepted",
          )
        : resolved.routable > 0
          ? condition(
              ConditionType.Programmed,
              "True",
              Reason.Programmed,
              `Serving with ${resolved.ready} ready endpoint(s)`,
            )
          : resolved.ready > 0
            ? condition(
                ConditionType.Programmed,
                "False",
                Reason.NoReadyEndpoints,
                "Every ready endpoint belongs to a backendRef of weight 0; handshakes are answered 503",
              )
            : condition(
                ConditionType.Programmed,
                "False",
                Reason.NoReadyEndpoints,
                "No ready endpoint; handshakes are answered 503 until one is ready",
              );

    // Fail closed: the route keeps its hosts and paths, and every request to it gets 503.
    const refusing =
      accepted.status === "True" && auth.auth?.kind === "unresolved"
        ? condition(
            ConditionType.Programmed,
            "False",
            Reason.Pending,
            "Handshakes and requests are refused (503) until spec.auth's key Secret resolves",
          )
        : undefined;

    diagnostics.push({
      ...base,
      claimed: true,
      conditions: [accepted, resolvedRefs, refusing ?? programmed],
      endpoints: { ready: resolved.ready, total: resolved.total },
    });
  }

  diagnostics.sort((a, b) => {
    const ka = `${a.namespace}/${a.name}`;
    const kb = `${b.namespace}/${b.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const certificates = new Map([...tlsHosts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  const fallback = defaultCertificate(lookup, options.defaultTlsSecret);
  return {
    table: buildTable(options.generation, served, certificates, fallback.certificate, {
      crossNamespaceFallthrough: options.allowCrossNamespaceHostnames === true,
    }),
    diagnostics,
    ...(fallback.problem === undefined ? {} : { defaultTlsProblem: fallback.problem }),
  };
}
