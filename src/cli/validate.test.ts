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
