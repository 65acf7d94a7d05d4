/**
 * Gateway API manifests for tests: the GatewayClass and Gateway every HTTPRoute test
 * attaches to, as YAML text for `parseManifestText` (what standalone users write), so
 * that each test file shows only the routes and policies it is about.
 */
import type { StoredObject } from "../../src/routing/store.js";
import { parseManifestText } from "../../src/sources/manifests.js";

/** One plain HTTP listener named `http` on port 80, as a YAML flow sequence. */
export const HTTP_LISTENER = "[{ name: http, port: 80, protocol: HTTP }]";

/**
 * The GatewayClass `wsgate` with wsgate's controllerName, and the Gateway `apps/web` of
 * that class with `listeners` (a YAML flow sequence; default: {@link HTTP_LISTENER}).
 * Ends with a newline: follow it with `---` and the test's own objects.
 */
export function gatewayYaml(listeners: string = HTTP_LISTENER): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: wsgate }
spec: { controllerName: wsgate.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: web, namespace: apps }
spec:
  gatewayClassName: wsgate
  listeners: ${listeners}
`;
}

/** {@link gatewayYaml} with one HTTP listener: what most HTTPRoute tests attach to. */
export const GATEWAY_YAML = gatewayYaml();

/**
 * The objects of manifest `text`; throws with the parser's errors when any document is
 * invalid, so that a typo in a test's YAML fails loudly instead of testing fewer objects.
 */
export function manifestObjects(text: string): StoredObject[] {
  const parsed = parseManifestText(text);
  if (parsed.errors.length > 0) throw new Error(`test manifests invalid: ${JSON.stringify(parsed.errors)}`);
  return parsed.objects;
}
