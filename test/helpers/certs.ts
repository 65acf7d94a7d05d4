/**
 * Self-signed certificates for TLS tests, made by the `openssl` CLI (no extra
 * dependency), and the kubernetes.io/tls Secrets that carry them.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseObject } from "../../src/api/parse.js";
import type { StoredObject } from "../../src/routing/store.js";

export interface TestCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:…`), to tell certificates apart. */
  readonly fingerprint: string;
}

/** A self-signed P-256 certificate for `names` (the first one is also the CN), valid for a day. */
export function selfSigned(...names: string[]): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-cert-"));
  try {
    const key = join(dir, "tls.key");
    const crt = join(dir, "tls.crt");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${names[0] ?? "wsgate-test"}`,
        "-addext",
        `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
        "-keyout",
        key,
        "-out",
        crt,
      ],
      { stdio: "ignore" },
    );
    const certPem = readFileSync(crt, "utf8");
    return {
      certPem,
      keyPem: readFileSync(key, "utf8"),
      fingerprint: new X509Certificate(certPem).fingerprint256,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A kubernetes.io/tls Secret holding `cert` (or any `data`, to make broken ones). */
export function tlsSecret(
  namespace: string,
  name: string,
  cert: Pick<TestCertificate, "certPem" | "keyPem"> | { data: Record<string, string>; type?: string },
): StoredObject {
  const body =
    "data" in cert
      ? { type: cert.type ?? "kubernetes.io/tls", data: cert.data }
      : {
          type: "kubernetes.io/tls",
          data: {
            "tls.crt": Buffer.from(cert.certPem).toString("base64"),
            "tls.key": Buffer.from(cert.keyPem).toString("base64"),
          },
        };
  const result = parseObject({ apiVersion: "v1", kind: "Secret", metadata: { namespace, name }, ...body });
  if (result.outcome !== "ok") throw new Error(`test Secret invalid: ${JSON.stringify(result)}`);
  return result.object;
}
