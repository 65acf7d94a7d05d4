/**
 * The Secrets and ConfigMaps the cluster source stores only while something names them:
 * which ones each kind of stored object names, and both gates (see {@link SecretGate})
 * moved together when a naming object changes. Which Secrets a route names is a fact about
 * the API object, asked of `api/secret-refs`.
 */
import type { BackendTLSPolicy, Gateway } from "../../api/gateway-api.js";
import type { Ingress } from "../../api/ingress.js";
import type { ConfigMap, Secret } from "../../api/objects.js";
import type { Kind } from "../../api/parse.js";
import { backendCaConfigMaps, secretsNamedBy } from "../../api/secret-refs.js";
import { isInvalidRoute, type ObjectStore, type StoredObject } from "../../routing/store.js";
import { SecretGate, type SecretWritten } from "./secret-gate.js";

/** The kinds kept in the store only while named. */
export type GatedKind = "Secret" | "ConfigMap";

/** The callback each gate reports its store writes to, per gated kind. */
export type GatedWritten = (kind: GatedKind) => SecretWritten;

/** The kinds whose objects name Secrets or ConfigMaps. */
const NAMING_KINDS: ReadonlySet<Kind> = new Set(["WebSocketRoute", "Gateway", "Ingress", "BackendTLSPolicy"]);

/** True for Secrets and ConfigMaps: their objects go through a gate, not straight to the store. */
export function isGated(kind: Kind): kind is GatedKind {
  return kind === "Secret" || kind === "ConfigMap";
}

/** True for the kinds whose objects may name Secrets or ConfigMaps. */
export function namesGatedObjects(kind: Kind): boolean {
  return NAMING_KINDS.has(kind);
}

/** `names` without repeats, in first-seen order. */
function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

/** `namespace/name` of the CA refs of `kind` a BackendTLSPolicy names. */
function policyCaRefs(policy: BackendTLSPolicy, kind: GatedKind): string[] {
  const { namespace } = policy.metadata;
  return unique(
    policy.spec.validation.caCertificateRefs
      .filter((ref) => ref.group === "" && ref.kind === kind)
      .map((ref) => `${namespace}/${ref.name}`),
  );
}

/**
 * `namespace/name` of every Secret `object` names: a route's (an invalid route names
 * none), an Ingress's TLS Secrets, a Gateway's listener certificates, a BackendTLSPolicy's
 * CA Secrets; nothing for other kinds or no object.
 */
export function secretsNamedByObject(object: StoredObject | undefined): string[] {
  switch (object?.kind) {
    case "WebSocketRoute":
      return isInvalidRoute(object) ? [] : secretsNamedBy(object);
    case "Ingress": {
      const { namespace } = object.metadata;
      return unique(
        (object as Ingress).spec.tls.flatMap((t) => (t.secretName ? [`${namespace}/${t.secretName}`] : [])),
      );
    }
    case "Gateway": {
      const gateway = object as Gateway;
      return unique(
        gateway.spec.listeners.flatMap((l) =>
          (l.tls?.certificateRefs ?? [])
            .filter((ref) => ref.group === "" && ref.kind === "Secret")
            .map((ref) => `${ref.namespace ?? gateway.metadata.namespace}/${ref.name}`),
        ),
      );
    }
    case "BackendTLSPolicy":
      return policyCaRefs(object as BackendTLSPolicy, "Secret");
    default:
      return [];
  }
}

/** `namespace/name` of every CA ConfigMap `object` names: a valid route's backendRefs, a BackendTLSPolicy's. */
export function configMapsNamedByObject(object: StoredObject | undefined): string[] {
  switch (object?.kind) {
    case "WebSocketRoute":
      return isInvalidRoute(object) ? [] : backendCaConfigMaps(object);
    case "BackendTLSPolicy":
      return policyCaRefs(object as BackendTLSPolicy, "ConfigMap");
    default:
      return [];
  }
}

/** The Secret gate and the ConfigMap gate, fed by the naming objects' changes. */
export class NamedObjects {
  readonly #secrets: SecretGate;
  readonly #configMaps: SecretGate;

  /** `pinnedSecrets` (`namespace/name`) stay stored even when nothing names them (a default certificate). */
  constructor(store: ObjectStore, pinnedSecrets: readonly string[]) {
    this.#secrets = new SecretGate(store, pinnedSecrets);
    this.#configMaps = new SecretGate(store, [], "ConfigMap");
  }

  /**
   * Object `kind` `namespace/name` changed from `before` to `after` (undefined: absent):
   * the Secrets and ConfigMaps it starts naming are stored if they exist, those no longer
   * named by anything leave the store.
   */
  namerChanged(
    kind: Kind,
    key: string,
    before: StoredObject | undefined,
    after: StoredObject | undefined,
    written: GatedWritten,
  ): void {
    // Routes were the first namers and keep the bare key; other kinds are prefixed so that a
    // Gateway and a route of one name stay two namers.
    const namer = kind === "WebSocketRoute" ? key : `${kind} ${key}`;
    this.#secrets.routeChanged(
      namer,
      secretsNamedByObject(before),
      secretsNamedByObject(after),
      written("Secret"),
    );
    this.#configMaps.routeChanged(
      namer,
      configMapsNamedByObject(before),
      configMapsNamedByObject(after),
      written("ConfigMap"),
    );
  }

  /** A Secret or ConfigMap seen in the API: stored now if something names it (or it is pinned). */
  upsert(kind: GatedKind, object: Secret | ConfigMap, written: GatedWritten): void {
    if (kind === "Secret") this.#secrets.upsert(object as Secret, written(kind));
    else this.#configMaps.upsert(object as ConfigMap, written(kind));
  }

  /** A Secret or ConfigMap gone from the API: gone from the store too. */
  remove(kind: GatedKind, key: string, written: GatedWritten): void {
    (kind === "Secret" ? this.#secrets : this.#configMaps).remove(key, written(kind));
  }

  /** `namespace/name` of the Secrets in the store: the named and pinned ones that exist. */
  storedSecrets(): string[] {
    return this.#secrets.stored();
  }
}
