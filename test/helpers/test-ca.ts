/**
 * A test certificate authority made by the `openssl` CLI (as test/helpers/certs.ts does for
 * self-signed certificates): a CA, and server certificates it signs for given DNS names and
 * URIs, to stand up TLS backends that wsgate must verify.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  /** A server certificate signed by this CA for `dns` names (the first is the CN) and `uris`. */
  issue(dns: readonly string[], uris?: readonly string[]): { certPem: string; keyPem: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A fresh CA, valid for a day. */
export function createTestCa(name = "wsgate test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-ca-"));
  try {
    openssl(dir, [
      "req",
      "-x509",
      ...EC_KEY,
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ]);
    const certPem = readFileSync(join(dir, "ca.crt"), "utf8");
    const keyPem = readFileSync(join(dir, "ca.key"), "utf8");
    return {
      certPem,
      keyPem,
      issue(dns, uris = []) {
        const work = mkdtempSync(join(tmpdir(), "wsgate-leaf-"));
        try {
          writeFileSync(join(work, "ca.crt"), certPem);
          writeFileSync(join(work, "ca.key"), keyPem);
          const alt = [...dns.map((d) => `DNS:${d}`), ...uris.map((u) => `URI:${u}`)].join(",");
          writeFileSync(join(work, "ext.cnf"), `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\n`);
          openssl(work, [
            "req",
            ...EC_KEY,
            "-subj",
            `/CN=${dns[0] ?? "backend"}`,
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
          ]);
          openssl(work, [
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "tls.crt",
          ]);
          return {
            certPem: readFileSync(join(work, "tls.crt"), "utf8"),
            keyPem: readFileSync(join(work, "tls.key"), "utf8"),
          };
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
