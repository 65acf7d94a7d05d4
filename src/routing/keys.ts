/**
 * Verification keys from a Secret's value, read so that they are never ambiguous.
 *
 * The danger is algorithm confusion at the edge: a value read as an HMAC secret lets
 * anyone who holds those bytes sign tokens, and a public key is by definition held by
 * everyone. So detection recognises only what cannot be mistaken — a JSON object with
 * `keys` (JWKS), a single JWK, and PEM blocks (comment and `Bag Attributes` lines around
 * them are allowed; any other text is not) — and everything else is refused. Raw bytes
 * are an HMAC secret only when the route says `format: HMAC`; inside a JWKS, only a JWK
 * with `kty: oct` is.
 *
 * Parsing uses node:crypto's synchronous importers (no I/O, no clock), so a bad key is a
 * condition on the route at compile time instead of a failed handshake.
 */
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { SecretKeyFormat } from "../api/route.js";
import { HMAC_ALGORITHMS, type KeyFormat, type VerificationKey } from "./auth-contract.js";

/** The keys read from a Secret's value, or why it cannot be used (the InvalidKey message). */
export type KeyParse =
  { ok: true; format: KeyFormat; keys: VerificationKey[] } | { ok: false; problem: string };

function verificationKey(key: KeyObject, algorithms: readonly string[], kid?: string): VerificationKey {
  const entry = { ...(kid === undefined ? {} : { kid }), algorithms: Object.freeze([...algorithms]) };
  Object.defineProperty(entry, "key", { value: key, enumerable: false });
  return Object.freeze(entry as VerificationKey);
}

function refused(problem: string): KeyParse {
  return { ok: false, problem };
}

/** The algorithms an asymmetric key can verify, or a problem. */
function asymmetricAlgorithms(key: KeyObject): string[] | string {
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) return `RSA keys must have at least 2048 bits; this one has ${bits}`;
      return key.asymmetricKeyType === "rsa"
        ? ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        : ["PS256", "PS384", "PS512"];
    }
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1") return ["ES256"];
      if (curve === "secp384r1") return ["ES384"];
      if (curve === "secp521r1") return ["ES512"];
      return `EC curve ${curve ?? "(unknown)"} is not supported; use P-256, P-384 or P-521`;
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      return `${key.asymmetricKeyType ?? "unknown"} keys are not supported; use RSA, EC (P-256/384/521) or Ed25519`;
  }
}

/** HMAC algorithms whose minimum key size (RFC 7518 §3.2: the hash size) the secret meets. */
function hmacAlgorithms(bytes: number): string[] {
  return HMAC_ALGORITHMS.filter((_, i) => bytes >= [32, 48, 64][i]!);
}

/** Narrows to the JWK's own `alg`, when it names one. */
function withJwkAlg(algorithms: string[], alg: unknown): string[] | string {
  if (alg === undefined) return algorithms;
  if (typeof alg !== "string" || !algorithms.includes(alg)) {
    return `alg ${JSON.stringify(alg)} does not fit this key (it can verify ${algorithms.join(", ")})`;
  }
  return [alg];
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ["kty", "n", "e"],
  EC: ["kty", "crv", "x", "y"],
  OKP: ["kty", "crv", "x"],
};

/** One JWK as a verification key; `undefined` for a key that is not for signatures. */
function parseJwk(jwk: Record<string, unknown>): VerificationKey | string | undefined {
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined; // an encryption key: not ours
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && (jwk.key_ops as unknown[]).includes("verify"))
  ) {
    return undefined;
  }
  if (jwk.kid !== undefined && typeof jwk.kid !== "string") return "kid must be a string";
  const kid = jwk.kid as string | undefined;
  let key: KeyObject;
  let algorithms: string[] | string;
  if (jwk.kty === "oct") {
    // The one place a JWKS names a shared secret: explicitly, by its key type.
    if (typeof jwk.k !== "string" || !/^[A-Za-z0-9_-]+$/.test(jwk.k)) return "k must be base64url";
    const secret = Buffer.from(jwk.k, "base64url");
    algorithms = hmacAlgorithms(secret.length);
    if (algorithms.length === 0) {
      return `an HMAC key must have at least 32 bytes (256 bits); this one has ${secret.length}`;
    }
    key = createSecretKey(secret);
  } else {
    const members = typeof jwk.kty === "string" ? PUBLIC_MEMBERS[jwk.kty] : undefined;
    if (!members) return `kty ${JSON.stringify(jwk.kty)} is not supported; use RSA, EC, OKP or oct`;
    // Only the public members: a JWKS that carries private parts still verifies, and never signs.
    const pub = Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]]));
    try {
      key = createPublicKey({ key: pub as JsonWebKey, format: "jwk" });
    } catch (err) {
      return `not a valid ${String(jwk.kty)} key (${(err as Error).message})`;
    }
    algorithms = asymmetricAlgorithms(key);
  }
  if (typeof algorithms === "string") return algorithms;
  const narrowed = withJwkAlg(algorithms, jwk.alg);
  if (typeof narrowed === "string") return narrowed;
  return verificationKey(key, narrowed, kid);
}

const BARE_ARRAY =
  'the value is a bare JSON array, not a JWKS: wrap the keys as {"keys": [...]} (RFC 7517 §5)';

/** A JWKS (`{"keys": [...]}`) or a single JWK (an object with `kty`); nothing else. */
function parseJson(text: string): KeyParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return refused("starts with { but is not valid JSON (expected a JWKS document)");
  }
  if (Array.isArray(doc)) return refused(BARE_ARRAY);
  const obj = doc as Record<string, unknown> | null;
  const list: unknown[] | undefined = Array.isArray(obj?.keys)
    ? (obj.keys as unknown[])
    : typeof obj?.kty === "string"
      ? [obj]
      : undefined;
  if (!list) return refused('JSON but not a JWKS ({"keys": [...]}) or a single JWK');
  const keys: VerificationKey[] = [];
  for (const [i, jwk] of list.entries()) {
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      return refused(`keys[${i}] is not an object`);
    }
    const parsed = parseJwk(jwk as Record<string, unknown>);
    if (typeof parsed === "string") {
      const kid = (jwk as { kid?: unknown }).kid;
      return refused(`keys[${i}]${typeof kid === "string" ? ` (kid ${kid})` : ""}: ${parsed}`);
    }
    if (parsed) keys.push(parsed);
  }
  if (keys.length === 0) return refused("the JWKS has no signature verification key");
  return { ok: true, format: "jwks", keys };
}

const BEGIN = /^-----BEGIN ([A-Z0-9]+(?: [A-Z0-9]+)*)-----$/;
const END = /^-----END ([A-Z0-9]+(?: [A-Z0-9]+)*)-----$/;
/** `openssl pkcs12` output: a bag's header line, then its attributes indented below it. */
const ATTRIBUTES_HEADER = /^(Bag|Key) Attributes(:.*)?$/;
/** `openssl pkcs12` / `x509` output: the certificate's names above its block. */
const NAME_LINE = /^(subject|issuer)=/;
/** Parameters `openssl ecparam -genkey` prints before the key: no key in them. */
const SKIPPED_LABELS = new Set(["EC PARAMETERS"]);

/**
 * PEM blocks (public keys, certificates, or private keys whose public half is used;
 * several for a rotation overlap). Outside the blocks only blank lines, `#` comments and
 * the attribute lines `openssl pkcs12` prints are allowed: text that merely contains a
 * PEM block (a pasted message, a config file) is refused, not searched for keys.
 */
function parsePem(text: string): KeyParse {
  const blocks: { label: string; pem: string }[] = [];
  let open: { label: string; line: number; body: string[] } | undefined;
  let inAttributes = false;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (open) {
      const end = END.exec(line);
      if (!end) {
        open.body.push(line);
        continue;
      }
      if (end[1] !== open.label) {
        return refused(`line ${i + 1}: END ${end[1]} closes BEGIN ${open.label} (line ${open.line})`);
      }
      blocks.push({
        label: open.label,
        pem: [`-----BEGIN ${open.label}-----`, ...open.body, line].join("\n"),
      });
      open = undefined;
      continue;
    }
    const begin = BEGIN.exec(line);
    if (begin) {
      open = { label: begin[1] as string, line: i + 1, body: [] };
      inAttributes = false;
    } else if (ATTRIBUTES_HEADER.test(line)) {
      inAttributes = true;
    } else if (
      line === "" ||
      line.startsWith("#") ||
      NAME_LINE.test(line) ||
      (inAttributes && /^\s/.test(raw))
    ) {
      continue;
    } else {
      return refused(
        `line ${i + 1} is outside the PEM blocks and is neither a comment (#) nor a Bag Attributes line; ` +
          "the value must hold only PEM blocks",
      );
    }
  }
  if (open) return refused(`PEM block ${open.label} (line ${open.line}) has no END line`);
  const keys: VerificationKey[] = [];
  for (const [i, block] of blocks.entries()) {
    if (SKIPPED_LABELS.has(block.label)) continue;
    let key: KeyObject;
    try {
      // A public key, a certificate (its key is used) or a private key (its public half is used).
      key = createPublicKey(block.pem);
    } catch {
      return refused(`PEM block ${i + 1} (${block.label}) is not a usable public key`);
    }
    const algorithms = asymmetricAlgorithms(key);
    if (typeof algorithms === "string") return refused(`PEM block ${i + 1}: ${algorithms}`);
    keys.push(verificationKey(key, algorithms));
  }
  if (keys.length === 0) return refused("the value holds no PEM block with a key");
  return { ok: true, format: "pem", keys };
}

/** Key types of OpenSSH `authorized_keys` lines (`ssh-rsa AAAA… comment`). */
const OPENSSH_LINE = /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp\d+|sk-[a-z0-9-]+@openssh\.com) /;
const OPENSSH =
  "the value is an OpenSSH public key, which wsgate does not read: convert it to PEM (ssh-keygen -e -m PKCS8 -f key.pub)";

/** The value as text, or `undefined` when it is not UTF-8 (binary: never a JWKS or PEM). */
function textOf(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Detection: JWKS, a single JWK or PEM blocks. Anything else is refused, never taken for HMAC. */
function detect(bytes: Buffer): KeyParse {
  const text = textOf(bytes);
  const needFormat = "an HMAC secret must be declared with format: HMAC";
  if (text === undefined) return refused(`the value is binary data, not a JWKS, a JWK or PEM; ${needFormat}`);
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return parseJson(trimmed);
  if (trimmed.startsWith("[")) return refused(BARE_ARRAY);
  if (OPENSSH_LINE.test(trimmed)) return refused(OPENSSH);
  if (trimmed.includes("-----BEGIN ")) return parsePem(trimmed);
  return refused(`the value is neither a JWKS, a JWK nor PEM; ${needFormat}`);
}

/** Whether the value is public-key material: what must never become a shared secret. */
function looksLikePublicKey(text: string): boolean {
  if (text.includes("-----BEGIN ") || OPENSSH_LINE.test(text)) return true;
  if (!text.startsWith("{") && !text.startsWith("[")) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function parseHmac(bytes: Buffer): KeyParse {
  const text = textOf(bytes)?.trim();
  if (text !== undefined && looksLikePublicKey(text)) {
    return refused(
      "the value is a public key or key set (PEM, JSON or OpenSSH), and a public key is not a shared secret; " +
        "use format PEM or JWKS (or no format) for it",
    );
  }
  const algorithms = hmacAlgorithms(bytes.length);
  if (algorithms.length === 0) {
    return refused(`an HMAC secret must have at least 32 bytes (256 bits); this one has ${bytes.length}`);
  }
  return { ok: true, format: "hmac", keys: [verificationKey(createSecretKey(bytes), algorithms)] };
}

/** Parses with an explicit format: content that does not fit it is refused, naming the format. */
function parseAs(bytes: Buffer, format: SecretKeyFormat): KeyParse {
  const result = ((): KeyParse => {
    if (format === "HMAC") return parseHmac(bytes);
    const text = textOf(bytes)?.trim();
    if (text === undefined) return refused("the value is binary data");
    if (format === "JWKS") {
      if (text.startsWith("[")) return refused(BARE_ARRAY);
      if (!text.startsWith("{"))
        return refused('the value is not a JSON object (a JWKS {"keys": [...]} or one JWK)');
      return parseJson(text);
    }
    if (OPENSSH_LINE.test(text)) return refused(OPENSSH);
    if (!text.includes("-----BEGIN ")) return refused("the value holds no PEM block");
    return parsePem(text);
  })();
  return result.ok ? result : refused(`format ${format}: ${result.problem}`);
}

/**
 * Verification keys from a Secret value. Without `format` the content is detected: a
 * JSON object is a JWKS (or one JWK), text with PEM blocks is PEM; anything else is
 * refused. With `format`, the content must be of that format; `HMAC` uses the bytes as
 * they are (mind a trailing newline from `kubectl create secret --from-file`).
 */
export function parseKeyMaterial(bytes: Buffer, format?: SecretKeyFormat): KeyParse {
  return format === undefined ? detect(bytes) : parseAs(bytes, format);
}
