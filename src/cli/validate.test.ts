import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { validateFiles } from "./validate.js";

it("warns about what an Ingress of wsgate's class would not get as written, without failing", () => {
  const file = join(mkdtempSync(join(tmpdir(), "wsgate-validate-")), "ingress.yaml");
  writeFileSync(
    file,
    `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: apps
  annotations: { nginx.ingress.kubernetes.io/configuration-snippet: "return 200;" }
spec:
  ingressClassName: wsgate
  rules:
    - http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: chat, port: { number: 80 } } } }] }
`,
  );
  const report = validateFiles([file]);
  expect(report.ok).toBe(true);
  expect(report.lines).toContainEqual(
    expect.stringMatching(/^Ingress apps\/chat: warning: SnippetIgnored: /),
  );
});

it("judges hostname ownership the way the gateway is run: --allow-cross-namespace-hostnames lets two namespaces share a host", () => {
  const file = join(mkdtempSync(join(tmpdir(), "wsgate-validate-")), "routes.yaml");
  const route = (namespace: string, name: string, createdSecond: number, path: string): string => `---
apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: ${name}, namespace: ${namespace}, creationTimestamp: "2026-01-01T00:00:0${createdSecond}Z" }
spec:
  hostnames: [chat.example.com]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: chat, port: 80 }] }]
`;
  writeFileSync(file, route("team-a", "chat", 1, "/a") + route("team-b", "chat", 2, "/b"));

  const strict = validateFiles([file]);
  expect(strict.ok).toBe(false);
  expect(strict.lines).toContainEqual(
    expect.stringMatching(/^WebSocketRoute team-b\/chat: error: Accepted=False HostnameConflict: /),
  );

  const shared = validateFiles([file], { allowCrossNamespaceHostnames: true });
  expect(shared.lines.filter((l) => l.includes("HostnameConflict"))).toEqual([]);
  expect(shared.ok).toBe(true);
});
