import { describe, expect, it } from "vitest";
import type { ConfigMap, Secret } from "../../api/objects.js";
import { parseObject, type KubeObject } from "../../api/parse.js";
import { ObjectStore } from "../../routing/store.js";
import { NamedObjects, configMapsNamedByObject, secretsNamedByObject } from "./named-objects.js";

function parsed(doc: object): KubeObject {
  const result = parseObject(doc);
  if (result.outcome !== "ok") throw new Error(JSON.stringify(result));
  return result.object;
}

const tlsSecret = (name: string): Secret =>
  parsed({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "apps" },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": "c", "tls.key": "k" },
  }) as Secret;

const caConfigMap = (name: string): ConfigMap =>
  parsed({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "apps" },
    data: { "ca.crt": "x" },
  }) as ConfigMap;

/** Gateway `apps/web` whose HTTPS listeners use the certificate Secrets `certs` (same namespace). */
const gateway = (...certs: string[]): KubeObject =>
  parsed({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "web", namespace: "apps" },
    spec: {
      gatewayClassName: "wsgate",
      listeners: certs.map((cert, i) => ({
        name: `https-${i}`,
        port: 443,
        protocol: "HTTPS",
        tls: { certificateRefs: [{ name: cert }] },
      })),
    },
  });

/** BackendTLSPolicy `apps/web` trusting the CA Secret `secret` and the CA ConfigMap `configMap`. */
const policy = (secret: string, configMap: string): KubeObject =>
  parsed({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "BackendTLSPolicy",
    metadata: { name: "web", namespace: "apps" },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "echo" }],
      validation: {
        hostname: "echo.apps",
        caCertificateRefs: [
          { group: "", kind: "Secret", name: secret },
          { group: "", kind: "ConfigMap", name: configMap },
        ],
      },
    },
  });

/** A real store and both gates, with every published write recorded as `Kind change ns/name`. */
function setup(): { store: ObjectStore; named: NamedObjects; written: string[] } {
  const store = new ObjectStore();
  const written: string[] = [];
  const named = new NamedObjects(store, []);
  return { store, named, written };
}

describe("NamedObjects", () => {
  const recorder =
    (written: string[]) =>
    (kind: "Secret" | "ConfigMap") =>
    (namespace: string, name: string, change: "upsert" | "delete"): void => {
      written.push(`${kind} ${change} ${namespace}/${name}`);
    };

  it("stores a Gateway's listener certificate while the Gateway names it, and evicts it when the Gateway goes, so that unnamed Secrets cost no recompile", () => {
    const { store, named, written } = setup();
    const record = recorder(written);
    named.upsert("Secret", tlsSecret("web-cert"), record);
    expect(store.get("Secret", "apps", "web-cert")).toBeUndefined();
    named.namerChanged("Gateway", "apps/web", undefined, gateway("web-cert"), record);
    expect(store.get("Secret", "apps", "web-cert")).toBeDefined();
    named.namerChanged("Gateway", "apps/web", gateway("web-cert"), undefined, record);
    expect(store.get("Secret", "apps", "web-cert")).toBeUndefined();
    expect(written).toEqual(["Secret upsert apps/web-cert", "Secret delete apps/web-cert"]);
  });

  it("keeps a Gateway and a BackendTLSPolicy of one name apart, so that one letting go of a Secret does not evict the other's", () => {
    const { store, named } = setup();
    const record = recorder([]);
    named.upsert("Secret", tlsSecret("shared"), record);
    named.namerChanged("Gateway", "apps/web", undefined, gateway("shared"), record);
    named.namerChanged("BackendTLSPolicy", "apps/web", undefined, policy("shared", "ca"), record);
    named.namerChanged("Gateway", "apps/web", gateway("shared"), gateway(), record);
    expect(store.get("Secret", "apps", "shared")).toBeDefined();
    expect(named.storedSecrets()).toEqual(["apps/shared"]);
  });

  it("moves a BackendTLSPolicy's CA ConfigMap through the ConfigMap gate, not the Secret one", () => {
    const { store, named, written } = setup();
    const record = recorder(written);
    named.upsert("ConfigMap", caConfigMap("ca"), record);
    named.namerChanged("BackendTLSPolicy", "apps/web", undefined, policy("ca-secret", "ca"), record);
    expect(store.get("ConfigMap", "apps", "ca")).toBeDefined();
    expect(written).toEqual(["ConfigMap upsert apps/ca"]);
    named.remove("ConfigMap", "apps/ca", record);
    expect(store.get("ConfigMap", "apps", "ca")).toBeUndefined();
  });

  it("reads what each kind names, and nothing for kinds that name nothing", () => {
    expect(secretsNamedByObject(gateway("a", "b", "a"))).toEqual(["apps/a", "apps/b"]);
    expect(secretsNamedByObject(policy("s", "c"))).toEqual(["apps/s"]);
    expect(configMapsNamedByObject(policy("s", "c"))).toEqual(["apps/c"]);
    expect(configMapsNamedByObject(gateway("a"))).toEqual([]);
    expect(secretsNamedByObject(undefined)).toEqual([]);
  });
});
