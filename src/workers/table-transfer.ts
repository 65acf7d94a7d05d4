/**
 * A routing table crossing from the main thread to a worker. The table's matcher is code,
 * so what travels is its input — the compiled routes and certificates, plus the
 * generation — and the worker rebuilds the matcher with {@link buildTable}.
 *
 * Cloning 10,000 routes costs about a second on a busy core (bench/workers.mjs), so only
 * what changed travels: the main thread remembers the route objects it sent, and a table
 * from the endpoint path (routing/endpoint-path.ts reuses every route it did not touch)
 * sends just the routes whose endpoints changed, with the order of all route keys. When
 * the route shapes did not change, the worker also keeps its matcher
 * ({@link withEndpoints}), as the main thread did.
 *
 * JWT keys are `KeyObject`s in a non-enumerable property (so logs never print them), which
 * structured clone would drop: they travel explicitly and are hidden again on arrival.
 */
import { isDeepStrictEqual } from "node:util";
import type { CompiledAuth, VerificationKey } from "../routing/auth-contract.js";
import {
  buildTable,
  withEndpoints,
  type Route,
  type RoutingTable,
  type TlsCertificate,
} from "../routing/table.js";

type KeysOf = readonly { kid?: string; algorithms: readonly string[]; key: unknown }[] | null;

/** What postMessage carries for one table. */
export interface TableMessage {
  readonly generation: number;
  /** Every route (a full message), or only the new and changed ones (with `order`). */
  readonly routes: readonly Route[];
  /** The keys of all routes in table order; absent in a full message. */
  readonly order?: readonly string[];
  readonly certificates: readonly (readonly [string, TlsCertificate])[];
  readonly defaultCertificate?: TlsCertificate;
  /** Per entry of `routes`: the JWT keys with their KeyObjects as enumerable fields. */
  readonly keys: readonly KeysOf[];
  /**
   * Per entry of `routes`, per rule: the JWT keys of a rule's own settings (an HTTPRoute
   * rule's WebSocketPolicy); null for a route without any. Absent when no route has any.
   */
  readonly ruleKeys?: readonly (readonly KeysOf[] | null)[];
}

function secretKeys(auth: CompiledAuth | undefined): readonly VerificationKey[] | undefined {
  return auth?.kind === "jwt" && auth.keys.source === "secret" ? auth.keys.keys : undefined;
}

/** The JWT keys of `auth` with their KeyObjects as enumerable fields, or null. */
function keysOf(auth: CompiledAuth | undefined): KeysOf {
  const keys = secretKeys(auth);
  return keys
    ? keys.map((k) => ({
        ...(k.kid === undefined ? {} : { kid: k.kid }),
        algorithms: k.algorithms,
        key: k.key,
      }))
    : null;
}

function messageOf(table: RoutingTable, routes: readonly Route[], order?: readonly string[]): TableMessage {
  const ruleKeys = routes.map((route) =>
    route.rules.some((rule) => secretKeys(rule.settings?.auth))
      ? route.rules.map((rule) => keysOf(rule.settings?.auth))
      : null,
  );
  return {
    generation: table.generation,
    routes,
    ...(order ? { order } : {}),
    certificates: [...table.certificates.entries()],
    ...(table.defaultCertificate ? { defaultCertificate: table.defaultCertificate } : {}),
    keys: routes.map((route) => keysOf(route.settings.auth)),
    ...(ruleKeys.some(Boolean) ? { ruleKeys } : {}),
  };
}

/** A whole table as a message (what a worker starting now gets). */
export function tableToMessage(table: RoutingTable): TableMessage {
  return messageOf(table, table.routes);
}

/** The main thread's side: each table as the change since the previous one. */
export class TableEncoder {
  /** The route objects the workers hold, by key. */
  #sent = new Map<string, Route>();

  /** The message for `table`; every worker must get every message, in order. */
  encode(table: RoutingTable): TableMessage {
    const current = new Map<string, Route>();
    for (const route of table.routes) current.set(route.key, route);
    const previous = this.#sent;
    this.#sent = current;
    // Keys that are not unique cannot name routes: send everything.
    if (current.size !== table.routes.length || previous.size === 0) return tableToMessage(table);
    const changed = table.routes.filter((route) => previous.get(route.key) !== route);
    return messageOf(
      table,
      changed,
      table.routes.map((route) => route.key),
    );
  }
}

/** A worker's side: the routes it holds, and the table they were last built into. */
export class TableDecoder {
  readonly #crossNamespaceFallthrough: boolean;
  #routes = new Map<string, Route>();
  #table: RoutingTable | undefined;

  /** `crossNamespaceFallthrough` is `--allow-cross-namespace-hostnames`. */
  constructor(crossNamespaceFallthrough: boolean) {
    this.#crossNamespaceFallthrough = crossNamespaceFallthrough;
  }

  decode(message: TableMessage): RoutingTable {
    const arrived = message.routes.map((route, i) =>
      withKeys(route, message.keys[i] ?? null, message.ruleKeys?.[i] ?? null),
    );
    const certificates = new Map(message.certificates);
    const previous = this.#table;
    let routes: Route[];
    if (message.order === undefined) {
      routes = arrived;
      this.#routes = new Map(routes.map((route) => [route.key, route]));
    } else {
      const held = this.#routes;
      for (const route of arrived) held.set(route.key, route);
      routes = message.order.map((key) => {
        const route = held.get(key);
        if (!route) throw new Error(`table ${message.generation}: route ${key} neither sent nor held`);
        return route;
      });
      // Forget routes that left the table (rare: only then is the map rebuilt).
      if (held.size !== routes.length) this.#routes = new Map(routes.map((route) => [route.key, route]));
    }
    const table =
      (previous && sameShape(previous, routes, certificates, message.defaultCertificate)
        ? withEndpoints(previous, message.generation, routes)
        : undefined) ??
      buildTable(message.generation, routes, certificates, message.defaultCertificate, {
        crossNamespaceFallthrough: this.#crossNamespaceFallthrough,
      });
    this.#table = table;
    return table;
  }
}

/** The table of a single full message (a worker's first table, tests). */
export function tableFromMessage(message: TableMessage, crossNamespaceFallthrough: boolean): RoutingTable {
  return new TableDecoder(crossNamespaceFallthrough).decode(message);
}

/**
 * True when `routes` only differ from `previous.routes` by their endpoints: same keys in
 * the same order, same hostnames, rule matches and settings, same certificates — what
 * {@link withEndpoints} requires to reuse the matcher.
 */
function sameShape(
  previous: RoutingTable,
  routes: readonly Route[],
  certificates: ReadonlyMap<string, TlsCertificate>,
  defaultCertificate: TlsCertificate | undefined,
): boolean {
  if (previous.routes.length !== routes.length) return false;
  if (!isDeepStrictEqual(previous.defaultCertificate, defaultCertificate)) return false;
  if (!isDeepStrictEqual(previous.certificates, certificates)) return false;
  return routes.every((route, i) => {
    const before = previous.routes[i] as Route;
    if (before === route) return true;
    return (
      before.key === route.key &&
      before.rules.length === route.rules.length &&
      isDeepStrictEqual(before.hostnames, route.hostnames) &&
      route.rules.every((rule, j) => isDeepStrictEqual(before.rules[j]?.matches, rule.matches)) &&
      route.rules.every((rule, j) => isDeepStrictEqual(before.rules[j]?.settings, rule.settings)) &&
      isDeepStrictEqual(before.settings, route.settings)
    );
  });
}

/** The route (and its rules with settings of their own) with their JWT keys put back, hidden again. */
function withKeys(route: Route, keys: KeysOf, ruleKeys: readonly KeysOf[] | null): Route {
  const settings = withSettingsKeys(route.settings, keys);
  if (!ruleKeys) return settings === route.settings ? route : { ...route, settings };
  const rules = route.rules.map((rule, j) => {
    const ruleSettings = rule.settings && withSettingsKeys(rule.settings, ruleKeys[j] ?? null);
    return ruleSettings === rule.settings ? rule : { ...rule, settings: ruleSettings };
  });
  return { ...route, settings, rules };
}

function withSettingsKeys(settings: Route["settings"], keys: KeysOf): Route["settings"] {
  const auth = settings.auth;
  if (!keys || auth?.kind !== "jwt" || auth.keys.source !== "secret") return settings;
  const hidden = keys.map((k) => {
    const entry = {
      ...(k.kid === undefined ? {} : { kid: k.kid }),
      algorithms: k.algorithms,
    } as VerificationKey;
    Object.defineProperty(entry, "key", { value: k.key, enumerable: false });
    return entry;
  });
  return { ...settings, auth: { ...auth, keys: { ...auth.keys, keys: hidden } } };
}
