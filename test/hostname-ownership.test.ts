/**
 * Tenants stay in their namespace, with real sockets: `apps` owns chat.example.com
 * (its route is the oldest claiming it); a route in `intruder` claiming a more
 * specific path on it receives none of its users' requests — unless the gateway
 * runs with `--allow-cross-namespace-hostnames`, ingress-nginx's behaviour.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import WebSocket from "ws";
import { closeClient } from "./helpers/gateway.js";
import { manifestDir, startStandalone } from "./helpers/standalone.js";

let dir: string;
let owner: EchoBackend;
let intruder: EchoBackend;
let running: RunningGateway | undefined;

/** A Service `echo` in `namespace` with one endpoint on 127.0.0.1:port, and a route to it. */
function tenant(
  namespace: string,
  route: string,
  created: string,
  path: string,
  port: number,
  hostname = "chat.example.com",
): string {
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: ${namespace} }
spec: { ports: [{ name: ws, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: ${namespace}, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: ws, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: ${route}, namespace: ${namespace}, creationTimestamp: "${created}" }
spec:
  hostnames: ["${hostname}"]
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${path} } }]
      backendRefs: [{ name: echo, port: 80 }]
`;
}

interface DebugConfig {
  routes: {
    namespace: string;
    name: string;
    status: { conditions: { type: string; reason: string; message: string }[] };
  }[];
}

beforeAll(async () => {
  owner = await startEchoBackend();
  intruder = await startEchoBackend();
  dir = manifestDir("hostname-ownership");
  // The intruder's route sorts first by name and claims the longer path: only age decides.
  writeFileSync(join(dir, "apps.yaml"), tenant("apps", "chat", "2024-01-01T00:00:00Z", "/", owner.port));
  writeFileSync(
    join(dir, "intruder.yaml"),
    tenant("intruder", "a-steal", "2024-06-01T00:00:00Z", "/account", intruder.port),
  );
});

afterEach(async () => {
  await running?.stop(0);
  running = undefined;
});

afterAll(async () => {
  await owner.close();
  await intruder.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Opens a WebSocket to chat.example.com{path} and closes it; resolves with the backend
 * that got it, or with the status of the refusal.
 */
async function whoServes(path: string): Promise<"owner" | "intruder" | number> {
  const before = { owner: owner.requests.length, intruder: intruder.requests.length };
  const url = `ws://127.0.0.1:${running!.httpAddress.port}${path}`;
  const ws = new WebSocket(url, { headers: { Host: "chat.example.com", Cookie: "session=apps-user" } });
  const refused = await new Promise<number | undefined>((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode);
    });
    ws.once("open", () => resolve(undefined));
    ws.once("error", reject);
  });
  if (refused !== undefined) {
    ws.terminate();
    expect([owner.requests.length, intruder.requests.length]).toEqual([before.owner, before.intruder]);
    return refused;
  }
  await closeClient(ws);
  if (intruder.requests.length > before.intruder) return "intruder";
  expect(owner.requests.length).toBe(before.owner + 1);
  return "owner";
}

describe("hostname ownership", () => {
  it("refuses a route of another namespace on an owned hostname, so that it receives none of the owner's requests", async () => {
    running = await startStandalone(dir);
    expect(await whoServes("/account/settings")).toBe("owner");
    const debug = (await (
      await fetch(`http://127.0.0.1:${running.adminAddress.port}/debug/config`)
    ).json()) as DebugConfig;
    const accepted = debug.routes
      .find((r) => r.namespace === "intruder")!
      .status.conditions.find((c) => c.type === "Accepted")!;
    expect(accepted.reason).toBe("HostnameConflict");
    expect(accepted.message).toContain("namespace apps (its oldest route is apps/chat)");
  });

  it("lets namespaces share a hostname with --allow-cross-namespace-hostnames, as ingress-nginx does", async () => {
    running = await startStandalone(dir, ["--allow-cross-namespace-hostnames"]);
    expect(await whoServes("/account/settings")).toBe("intruder");
    expect(await whoServes("/other")).toBe("owner");
  });
});

describe("fallthrough from an owned hostname", () => {
  let wildDir: string;
  beforeAll(() => {
    wildDir = manifestDir("hostname-fallthrough");
    writeFileSync(
      join(wildDir, "apps.yaml"),
      tenant("apps", "chat", "2024-01-01T00:00:00Z", "/chat", owner.port),
    );
    // Another namespace owns the wildcard: a path chat.example.com does not serve must not reach it.
    writeFileSync(
      join(wildDir, "intruder.yaml"),
      tenant("intruder", "wild", "2024-06-01T00:00:00Z", "/", intruder.port, "*.example.com"),
    );
  });
  afterAll(() => rmSync(wildDir, { recursive: true, force: true }));

  it("answers 404 instead of passing an owned host's unmatched path to another namespace's wildcard route", async () => {
    running = await startStandalone(wildDir);
    expect(await whoServes("/chat")).toBe("owner");
    expect(await whoServes("/account")).toBe(404);
  });

  it("falls through to the wildcard with --allow-cross-namespace-hostnames (Gateway API precedence)", async () => {
    running = await startStandalone(wildDir, ["--allow-cross-namespace-hostnames"]);
    expect(await whoServes("/account")).toBe("intruder");
  });
});
