/**
 * ReferenceGrant: a reference from one namespace to an object in another is allowed only
 * when a ReferenceGrant in the target's namespace says so (Gateway API's handshake, so
 * a tenant cannot point its route at another tenant's Service or certificate).
 */
import type { ReferenceGrant } from "../../api/gateway-api.js";

export interface ReferenceFrom {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

export interface ReferenceTo {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export class ReferenceGrants {
  readonly #byNamespace = new Map<string, ReferenceGrant[]>();

  constructor(grants: readonly ReferenceGrant[]) {
    for (const g of grants) {
      const list = this.#byNamespace.get(g.metadata.namespace) ?? [];
      list.push(g);
      this.#byNamespace.set(g.metadata.namespace, list);
    }
  }

  /** Same-namespace references are always allowed; others need a matching grant. */
  allows(from: ReferenceFrom, to: ReferenceTo): boolean {
    if (from.namespace === to.namespace) return true;
    return (this.#byNamespace.get(to.namespace) ?? []).some(
      (grant) =>
        grant.spec.from.some(
          (f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace,
        ) &&
        grant.spec.to.some(
          (t) =>
            t.group === to.group &&
            t.kind === to.kind &&
            (t.name === undefined || t.name === "" || t.name === to.name),
        ),
    );
  }
}
