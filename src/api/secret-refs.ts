/**
 * Which Secrets a route names. It is a fact about the API object, so the sources (which
 * keep a Secret in the store only while some route names it) and the compiler (which
 * resolves the references) both ask it here instead of one reaching into the other.
 */
import { objectKey } from "./meta.js";
import type { WebSocketRoute } from "./route.js";

/** `namespace/name` of the Secret holding the route's JWT keys, if it names one (same namespace only). */
export function jwtKeySecret(route: WebSocketRoute): string | undefined {
  const ref = route.spec.auth?.jwt?.keys.secretRef;
  return ref ? objectKey({ namespace: route.metadata.namespace, name: ref.name }) : undefined;
}

/** `namespace/name` of the route's kubernetes.io/tls Secret, if it names one. */
export function tlsSecret(route: WebSocketRoute): string | undefined {
  const name = route.spec.tls?.secretName;
  return name === undefined ? undefined : objectKey({ namespace: route.metadata.namespace, name });
}

/** `namespace/name` of the Secrets the route's backendRefs name as CA bundles (`backendTLS.caCertificateRefs`). */
export function backendCaSecrets(route: WebSocketRoute): string[] {
  const namespace = route.metadata.namespace;
  return route.spec.rules.flatMap((rule) =>
    rule.backendRefs.flatMap((ref) =>
      (ref.backendTLS?.caCertificateRefs ?? [])
        .filter((ca) => ca.kind === "Secret")
        .map((ca) => objectKey({ namespace, name: ca.name })),
    ),
  );
}

/** `namespace/name` of the ConfigMaps the route's backendRefs name as CA bundles. */
export function backendCaConfigMaps(route: WebSocketRoute): string[] {
  const namespace = route.metadata.namespace;
  const names = route.spec.rules.flatMap((rule) =>
    rule.backendRefs.flatMap((ref) =>
      (ref.backendTLS?.caCertificateRefs ?? [])
        .filter((ca) => ca.kind === "ConfigMap")
        .map((ca) => objectKey({ namespace, name: ca.name })),
    ),
  );
  return [...new Set(names)];
}

/** `namespace/name` of every Secret the route names — its certificate, its JWT keys, backend CAs — each once. */
export function secretsNamedBy(route: WebSocketRoute): string[] {
  const named = [tlsSecret(route), jwtKeySecret(route)].filter((s): s is string => s !== undefined);
  return [...new Set([...named, ...backendCaSecrets(route)])];
}
