/**
 * Validates a kubernetes.io/tls Secret without I/O: the certificate parses, the key
 * parses, and the key belongs to the certificate.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { Secret } from "../api/objects.js";

export const TLS_SECRET_TYPE = "kubernetes.io/tls";

export type CertificateCheck = { ok: true; certPem: string; keyPem: string } | { ok: false; problem: string };

export function checkCertificate(secret: Secret): CertificateCheck {
  if (secret.type !== TLS_SECRET_TYPE) {
    return { ok: false, problem: `type is ${secret.type}, expected ${TLS_SECRET_TYPE}` };
  }
  const crt = secret.data["tls.crt"];
  const key = secret.data["tls.key"];
  if (!crt || !key) return { ok: false, problem: "tls.crt and tls.key must both be present" };
  const certPem = Buffer.from(crt, "base64").toString("utf8");
  const keyPem = Buffer.from(key, "base64").toString("utf8");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    return { ok: false, problem: "tls.crt is not a PEM certificate" };
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) {
      return { ok: false, problem: "tls.key does not belong to the certificate in tls.crt" };
    }
  } catch {
    return { ok: false, problem: "tls.key is not a PEM private key" };
  }
  return { ok: true, certPem, keyPem };
}
