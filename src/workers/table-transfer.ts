/**
 * A routing table crossing from the main thread to a worker. The table's matcher is a
 * closure, so what travels is its input — the compiled routes and certificates, plus
 * the generation — and the worker rebuilds the matcher with {@link buildTable}. JWT keys
 * are `KeyObject`s held in a non-enumerable property (so logs never print them), which
 * structured clone would drop: they travel explicitly and are hidden again on arrival.
 */
import type { CompiledAuth, VerificationKey } from "../routing/auth-contract.js";
import { buildTable, type Route, type RoutingTable, type TlsCertificate } from "../routing/table.js";

/** What postMessage carries for one table. */
export interface TableMessage {
  readonly generation: number;
  readonly routes: readonly Route[];
  readonly certificates: readonly (readonly [string, TlsCertificate])[];
  readonly defaultCertificate?: TlsCertificate;
  /** Per route index: the JWT keys with their KeyObjects as enumerable fields. */
  readonly keys: readonly (readonly { kid?: string; algorithms: readonly string[]; key: unknown }[] | null)[];
}

function secretKeys(auth: CompiledAuth | undefined): readonly VerificationKey[] | undefined {
  return auth?.kind === "jwt" && auth.keys.source === "secret" ? auth.keys.keys : undefined;
}

/** Turns a table into a message (the main thread, once per publish, for every worker). */
export function tableToMessage(table: RoutingTable): TableMessage {
  return {
    generation: table.generation,
    routes: table.routes,
    certificates: [...table.certificates.entries()],
    ...(table.defaultCertificate ? { defaultCertificate: table.defaultCertificate } : {}),
    keys: table.routes.map((route) => {
      const keys = secretKeys(route.settings.auth);
      return keys
        ? keys.map((k) => ({
            ...(k.kid === undefined ? {} : { kid: k.kid }),
            algorithms: k.algorithms,
            key: k.key,
          }))
        : null;
    }),
  };
}

/** Rebuilds the table in a worker; `crossNamespaceFallthrough` is `--allow-cross-namespace-hostnames`. */
export function tableFromMessage(message: TableMessage, crossNamespaceFallthrough: boolean): RoutingTable {
  const routes = message.routes.map((route, i) => {
    const keys = message.keys[i];
    const auth = route.settings.auth;
    if (!keys || auth?.kind !== "jwt" || auth.keys.source !== "secret") return route;
    const hidden = keys.map((k) => {
      const entry = {
        ...(k.kid === undefined ? {} : { kid: k.kid }),
        algorithms: k.algorithms,
      } as VerificationKey;
      Object.defineProperty(entry, "key", { value: k.key, enumerable: false });
      return entry;
    });
    return {
      ...route,
      settings: { ...route.settings, auth: { ...auth, keys: { ...auth.keys, keys: hidden } } },
    };
  });
  // A rule object is shared by a route and its matches; the clone keeps that sharing.
  return buildTable(message.generation, routes, new Map(message.certificates), message.defaultCertificate, {
    crossNamespaceFallthrough,
  });
}
