import { describe, expect, it } from "vitest";
import type { Secret } from "../../api/objects.js";
import { parseObject } from "../../api/parse.js";
import { ObjectStore } from "../../routing/store.js";
import { SecretGate } from "./secret-gate.js";

function secret(name: string, value: string, resourceVersion = "1"): Secret {
  const parsed = parseObject({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "apps", resourceVersion },
    type: "Opaque",
    stringData: { keys: value },
  });
  if (parsed.outcome !== "ok") throw new Error(JSON.stringify(parsed));
  return parsed.object as Secret;
}

/** A real store and gate, with every store notification and every published write recorded. */
function setup(pinned: string[] = []): {
  store: ObjectStore;
  gate: SecretGate;
  notified: string[];
  written: string[];
  write: (namespace: string, name: string, change: "upsert" | "delete") => void;
} {
  const store = new ObjectStore();
  const notified: string[] = [];
  store.onChange((kind) => notified.push(kind));
  const written: string[] = [];
  return {
    store,
    gate: new SecretGate(store, pinned),
    notified,
    written,
    write: (namespace, name, change) => written.push(`${change} ${namespace}/${name}`),
  };
}

describe("SecretGate", () => {
  it("keeps a Secret nobody names out of the store, so that its updates trigger no recompile", () => {
    const { store, gate, notified, write } = setup();
    gate.upsert(secret("keys", "v1"), write);
    gate.upsert(secret("keys", "v2", "2"), write);
    expect(store.get("Secret", "apps", "keys")).toBeUndefined();
    expect(notified).toEqual([]);
  });

  it("admits a Secret when the first route names it, and keeps it while any route does", () => {
    const { store, gate, written, write } = setup();
    gate.upsert(secret("keys", "v1"), write);
    gate.routeChanged("apps/a", [], ["apps/keys"], write);
    gate.routeChanged("apps/b", [], ["apps/keys"], write);
    expect(written).toEqual(["upsert apps/keys"]);
    gate.routeChanged("apps/a", ["apps/keys"], [], write);
    expect(store.get("Secret", "apps", "keys")).toBeDefined();
    expect(gate.stored()).toEqual(["apps/keys"]);
  });

  it("evicts a Secret when the last route naming it is deleted or changed, so that later updates cost nothing", () => {
    const { store, gate, notified, written, write } = setup();
    gate.upsert(secret("keys", "v1"), write);
    gate.upsert(secret("tls", "cert"), write);
    gate.routeChanged("apps/a", [], ["apps/keys", "apps/tls"], write);
    // The route changes: it names another certificate and no key Secret any more.
    gate.routeChanged("apps/a", ["apps/keys", "apps/tls"], ["apps/tls-2"], write);
    expect(store.get("Secret", "apps", "keys")).toBeUndefined();
    expect(store.get("Secret", "apps", "tls")).toBeUndefined();
    expect(written).toEqual(["upsert apps/keys", "upsert apps/tls", "delete apps/keys", "delete apps/tls"]);

    const before = notified.length;
    gate.upsert(secret("keys", "v2", "2"), write);
    expect(notified.length).toBe(before);
    expect(store.get("Secret", "apps", "keys")).toBeUndefined();

    // Named again: the latest copy comes back from waiting outside.
    gate.routeChanged("apps/b", [], ["apps/keys"], write);
    expect((store.get("Secret", "apps", "keys") as Secret).data.keys).toBe(
      Buffer.from("v2").toString("base64"),
    );
  });

  it("never evicts a pinned Secret (the default certificate)", () => {
    const { store, gate, write } = setup(["apps/default-tls"]);
    gate.upsert(secret("default-tls", "cert"), write);
    expect(store.get("Secret", "apps", "default-tls")).toBeDefined();
    gate.routeChanged("apps/a", [], ["apps/default-tls"], write);
    gate.routeChanged("apps/a", ["apps/default-tls"], [], write);
    expect(store.get("Secret", "apps", "default-tls")).toBeDefined();
  });

  it("removes a referenced Secret deleted from the API, and stores it again when it comes back", () => {
    const { store, gate, write } = setup();
    gate.routeChanged("apps/a", [], ["apps/keys"], write);
    gate.upsert(secret("keys", "v1"), write);
    expect(store.get("Secret", "apps", "keys")).toBeDefined();
    gate.remove("apps/keys", write);
    expect(store.get("Secret", "apps", "keys")).toBeUndefined();
    gate.upsert(secret("keys", "v1", "5"), write);
    expect(store.get("Secret", "apps", "keys")).toBeDefined();
  });

  it("drops re-listed copies that differ only in resourceVersion, so that a relist causes no recompile", () => {
    const { gate, notified, write } = setup();
    gate.routeChanged("apps/a", [], ["apps/keys"], write);
    gate.upsert(secret("keys", "v1", "1"), write);
    const before = notified.length;
    gate.upsert(secret("keys", "v1", "9"), write);
    expect(notified.length).toBe(before);
    gate.upsert(secret("keys", "v2", "10"), write);
    expect(notified.length).toBe(before + 1);
  });
});
