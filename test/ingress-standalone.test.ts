/**
 * Ingress in standalone mode (`wsgate serve --manifests DIR`) with real sockets: an
 * Ingress of class `--ingress-class` needs no IngressClass object, its annotations shape
 * the route (limit-connections, denylist-source-range), and another class is left alone.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import type WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, roundTrip } from "./helpers/gateway.js";
import { manifestDir, serviceYaml, startStandalone } from "./helpers/standalone.js";

let running: RunningGateway;
let backend: EchoBackend;
const clients: WebSocket[] = [];

function ingressYaml(
  name: string,
  className: string,
  path: string,
  annotations: Record<string, string>,
): string {
  const lines = Object.entries(annotations).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${name}
  namespace: apps
  annotations:
${lines.length > 0 ? lines.join("\n") : "    {}"}
spec:
  ingressClassName: ${className}
  rules:
    - http:
        paths:
          - { path: ${path}, pathType: Prefix, backend: { service: { name: echo, port: { number: 80 } } } }
`;
}

beforeEach(async () => {
  const dir = manifestDir("ingress");
  backend = await startEchoBackend();
  writeFileSync(join(dir, "service.yaml"), serviceYaml("echo", backend.port));
  writeFileSync(
    join(dir, "ingress.yaml"),
    [
      ingressYaml("chat", "wsgate", "/chat", {
        "nginx.ingress.kubernetes.io/limit-connections": "1",
        "nginx.ingress.kubernetes.io/server-snippet": "return 200;",
      }),
      ingressYaml("blocked", "wsgate", "/blocked", {
        "wsgate.io/denylist-source-range": "127.0.0.0/8",
      }),
      ingressYaml("theirs", "nginx", "/theirs", {}),
    ].join("---\n"),
  );
  running = await startStandalone(dir);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await running.stop();
  await backend.close();
});

const url = (path: string): string => `ws://127.0.0.1:${running.httpAddress.port}${path}`;

it("serves an Ingress of --ingress-class without an IngressClass object, with its limit-connections", async () => {
  const ws = await connect(url("/chat"));
  clients.push(ws);
  expect((await roundTrip(ws, "hi")).data.toString()).toBe("hi");
  expect((await expectRefusal(url("/chat"))).status).toBe(429);
});

it("proxies plain HTTP on an Ingress path too (polling transports, app pages)", async () => {
  const res = await fetch(`http://127.0.0.1:${running.httpAddress.port}/chat/poll?t=1`);
  expect(res.status).toBe(200);
  expect(((await res.json()) as { path: string }).path).toBe("/chat/poll?t=1");
});

it("refuses a client in denylist-source-range (wsgate.io/ prefix) with 403 so that the backend never sees it", async () => {
  const refusal = await expectRefusal(url("/blocked"));
  expect(refusal.status).toBe(403);
  expect(backend.requests).toEqual([]);
});

it("leaves an Ingress of another class alone (404) and shows its own Ingresses' notices in /debug/config", async () => {
  expect((await expectRefusal(url("/theirs"))).status).toBe(404);
  const debug = (await (
    await fetch(`http://127.0.0.1:${running.adminAddress.port}/debug/config`)
  ).json()) as {
    table: { routes: { key: string }[] };
    ingresses: { name: string; served: boolean; notices: { reason: string }[] }[];
  };
  expect(debug.table.routes.map((r) => r.key).sort()).toEqual(["apps/ingress/blocked", "apps/ingress/chat"]);
  // Standalone has no Events: /debug/config shows what each Ingress of ours did not get as written.
  expect(debug.ingresses.map((i) => [i.name, i.served, i.notices.map((n) => n.reason)])).toEqual([
    ["blocked", true, []],
    ["chat", true, ["SnippetIgnored"]],
  ]);
});
