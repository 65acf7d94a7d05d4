import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KEY_FORMATS, type SecretKeyFormat } from "../api/route.js";
import { parseKeyMaterial } from "./keys.js";

function jwkOf(type: "rsa" | "ec" | "ed25519", extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { publicKey } =
    type === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : type === "ec"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : generateKeyPairSync("ed25519");
  return { ...publicKey.export({ format: "jwk" }), ...extra };
}

function pemOf(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }) as string;
}

function parse(text: string | Buffer, format?: SecretKeyFormat): ReturnType<typeof parseKeyMaterial> {
  return parseKeyMaterial(Buffer.from(text), format);
}

/** Whether a parse yielded a shared secret: what anyone holding the value could sign with. */
function yieldsSharedSecret(result: ReturnType<typeof parseKeyMaterial>): boolean {
  return result.ok && (result.format === "hmac" || result.keys.some((k) => k.key.type === "secret"));
}

const ed25519 = generateKeyPairSync("ed25519");
const ED_PEM = pemOf(ed25519.publicKey);
const EC_PEM = pemOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
const RSA = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe("detected formats", () => {
  it("reads a JWKS: algorithms follow the key type, or the JWK's alg; oct keys are HMAC keys", () => {
    const result = parse(
      JSON.stringify({
        keys: [
          jwkOf("rsa", { kid: "r" }),
          jwkOf("rsa", { kid: "r256", alg: "RS256" }),
          jwkOf("ec", { kid: "e" }),
          jwkOf("ed25519", { kid: "o" }),
          { kty: "oct", kid: "h", k: randomBytes(48).toString("base64url") },
        ],
      }),
    );
    expect(result.ok && result.format).toBe("jwks");
    expect(result.ok && result.keys.map((k) => [k.kid, k.algorithms.join(" ")])).toEqual([
      ["r", "RS256 RS384 RS512 PS256 PS384 PS512"],
      ["r256", "RS256"],
      ["e", "ES384"],
      ["o", "EdDSA Ed25519"],
      ["h", "HS256 HS384"],
    ]);
  });

  it("reads a single JWK, keeps only its public half, and skips encryption keys", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const single = parse(JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid: "p" }));
    expect(single.ok && single.keys[0]?.key.type).toBe("public");
    const mixed = parse(
      JSON.stringify({ keys: [jwkOf("rsa", { use: "enc" }), jwkOf("ec", { use: "sig" })] }),
    );
    expect(mixed.ok && mixed.keys).toHaveLength(1);
  });

  it("reads PEM public keys, several blocks for a rotation overlap", () => {
    const result = parse(`${ED_PEM}\n${EC_PEM}`);
    expect(result.ok && result.format).toBe("pem");
    expect(result.ok && result.keys.map((k) => k.algorithms[0])).toEqual(["EdDSA", "ES256"]);
  });

  it("strips comment lines and openssl's Bag Attributes lines before and between PEM blocks", () => {
    const result = parse(
      [
        "# issuer keys, rotated 2025-01",
        "Bag Attributes",
        "    localKeyID: 01 00 00 00 ",
        "    friendlyName: issuer",
        "subject=CN = issuer.example",
        "issuer=CN = issuer.example",
        ED_PEM.trimEnd(),
        "",
        "# the next key",
        "Key Attributes: <No Attributes>",
        EC_PEM,
      ].join("\n"),
    );
    expect(result).toMatchObject({ ok: true, format: "pem" });
    expect(result.ok && result.keys).toHaveLength(2);
  });

  it("reads the public half of a private key, and skips the EC PARAMETERS block openssl prints before one", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const sec1 = privateKey.export({ type: "sec1", format: "pem" }) as string;
    const result = parse(
      `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1}`,
    );
    expect(result.ok && result.keys.map((k) => [k.key.type, k.algorithms.join()])).toEqual([
      ["public", "ES256"],
    ]);
  });
});

describe("ambiguous material is refused, never read as an HMAC secret", () => {
  const ssh = (() => {
    const jwk = RSA.publicKey.export({ format: "jwk" });
    const field = (b: Buffer): Buffer =>
      Buffer.concat([Buffer.from([0, 0, b.length >> 8, b.length & 255]), b]);
    const n = Buffer.concat([Buffer.from([0]), Buffer.from(jwk.n!, "base64url")]);
    const blob = Buffer.concat([
      field(Buffer.from("ssh-rsa")),
      field(Buffer.from(jwk.e!, "base64url")),
      field(n),
    ]);
    return `ssh-rsa ${blob.toString("base64")} issuer@example\n`;
  })();

  it.each([
    [
      "a JWKS stored as a bare array",
      JSON.stringify([jwkOf("ec")]),
      /bare JSON array.*\{"keys": \[\.\.\.\]\}/,
    ],
    ["an ssh-rsa line", ssh, /OpenSSH public key.*ssh-keygen -e -m PKCS8/],
    ["an ssh-ed25519 line", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBB user@host", /OpenSSH public key/],
    [
      "text that merely contains a PEM",
      `Here is the issuer's key:\n${ED_PEM}`,
      /line 1 is outside the PEM blocks/,
    ],
    ["a PEM followed by other text", `${ED_PEM}\nkey: value\n`, /line \d+ is outside the PEM blocks/],
    ["a YAML document around a PEM", `publicKey: |\n  ${ED_PEM.split("\n").join("\n  ")}`, /outside the PEM/],
    ["64 random bytes", randomBytes(64), /binary data.*format: HMAC/],
    [
      "a long passphrase",
      "correct-horse-battery-staple-and-then-some",
      /neither a JWKS, a JWK nor PEM.*format: HMAC/,
    ],
    ["indented lines without an attributes header", `    localKeyID: 01\n${ED_PEM}`, /line 1 is outside/],
  ])("refuses %s", (_name, material, problem) => {
    const result = parse(material);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(problem);
  });

  it("keeps the messages for broken JWKS and PEM", () => {
    const cases: [string, RegExp][] = [
      ['{"keys": [', /not valid JSON/],
      ['{"issuer": "x"}', /not a JWKS/],
      ['{"keys": []}', /no signature verification key/],
      ['{"keys": [{"kty": "XYZ", "kid": "a"}]}', /keys\[0\] \(kid a\): kty "XYZ" is not supported/],
      ['{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}', /keys\[0\]/],
      [JSON.stringify({ keys: [jwkOf("ec", { alg: "RS256" })] }), /alg "RS256" does not fit/],
      [JSON.stringify({ keys: [jwkOf("ec", { alg: "none" })] }), /alg "none" does not fit/],
      [JSON.stringify({ keys: [{ kty: "oct", k: "c2hvcnQ" }] }), /at least 32 bytes/],
      ["-----BEGIN PUBLIC KEY-----\nMIIB", /PEM block PUBLIC KEY \(line 1\) has no END line/],
      ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", /not a usable public key/],
      [
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END CERTIFICATE-----",
        /END CERTIFICATE closes BEGIN PUBLIC KEY/,
      ],
    ];
    for (const [text, problem] of cases) {
      const result = parse(text);
      expect(result.ok, text).toBe(false);
      expect(!result.ok && result.problem, text).toMatch(problem);
    }
  });

  it("refuses RSA keys under 2048 bits", () => {
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const result = parse(pemOf(publicKey));
    expect(!result.ok && result.problem).toMatch(/at least 2048 bits/);
  });

  it("never yields a shared secret from random bytes unless the format says HMAC (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512, size: "max" }),
        fc.constantFrom(undefined, "JWKS", "PEM"),
        (bytes, format) => {
          expect(
            yieldsSharedSecret(parseKeyMaterial(Buffer.from(bytes), format as SecretKeyFormat | undefined)),
          ).toBe(false);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("never yields a shared secret from text built of key-ish pieces unless the format says HMAC (fast-check)", () => {
    const piece = fc.oneof(
      fc.constantFrom(ED_PEM, EC_PEM, "# comment", "Bag Attributes", "    friendlyName: x", "subject=CN = x"),
      fc.constantFrom(
        "[",
        "]",
        "{",
        "}",
        '"keys":',
        '"kty":"oct"',
        "ssh-rsa AAAA",
        "-----BEGIN ",
        "-----END ",
      ),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 6 }),
        fc.constantFrom(undefined, "JWKS", "PEM"),
        (pieces, format) => {
          const result = parse(pieces.join("\n"), format as SecretKeyFormat | undefined);
          expect(yieldsSharedSecret(result)).toBe(false);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("refuses any PEM with a line of prose before it (fast-check)", () => {
    const prose = fc
      .string({ minLength: 1, maxLength: 60 })
      .filter((s) => !s.includes("\n") && !s.includes("\r") && s.trim() !== "" && !s.trim().startsWith("#"));
    fc.assert(
      fc.property(prose, (line) => {
        const result = parse(`${line}\n${ED_PEM}`);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe("explicit formats", () => {
  const secret = randomBytes(48);

  it("uses the bytes as they are for format HMAC, at least 32 of them", () => {
    expect(parseKeyMaterial(secret, "HMAC")).toMatchObject({
      ok: true,
      format: "hmac",
      keys: [{ algorithms: ["HS256", "HS384"] }],
    });
    expect(parse("x".repeat(32), "HMAC")).toMatchObject({ ok: true, keys: [{ algorithms: ["HS256"] }] });
    const short = parse("s3cret", "HMAC");
    expect(!short.ok && short.problem).toBe(
      "format HMAC: an HMAC secret must have at least 32 bytes (256 bits); this one has 6",
    );
  });

  it.each([
    ["a PEM public key", ED_PEM],
    ["a commented PEM", `# key\n${ED_PEM}`],
    ["a JWKS", JSON.stringify({ keys: [jwkOf("ec")] })],
    ["a bare JWKS array", JSON.stringify([jwkOf("ec")])],
    [
      "an OpenSSH key",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB user@host",
    ],
  ])("refuses %s under format HMAC: a public key is not a shared secret", (_name, material) => {
    const result = parse(material, "HMAC");
    expect(!result.ok && result.problem).toMatch(/^format HMAC: .*public key is not a shared secret/);
  });

  it.each<[SecretKeyFormat, string | Buffer, RegExp]>([
    ["JWKS", ED_PEM, /^format JWKS: the value is not a JSON object/],
    ["JWKS", JSON.stringify([jwkOf("ec")]), /^format JWKS: .*bare JSON array/],
    ["JWKS", randomBytes(64), /^format JWKS: the value is binary data/],
    ["PEM", JSON.stringify({ keys: [jwkOf("ec")] }), /^format PEM: the value holds no PEM block/],
    ["PEM", `prose\n${ED_PEM}`, /^format PEM: line 1 is outside the PEM blocks/],
    ["PEM", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 user@host", /^format PEM: .*OpenSSH/],
  ])("refuses content that does not fit format %s, naming the format", (format, material, problem) => {
    const result = parse(material, format);
    expect(!result.ok && result.problem).toMatch(problem);
  });

  it("reads what fits: JWKS and PEM as declared", () => {
    expect(parse(JSON.stringify({ keys: [jwkOf("ec")] }), "JWKS")).toMatchObject({
      ok: true,
      format: "jwks",
    });
    expect(parse(`# key\n${ED_PEM}`, "PEM")).toMatchObject({ ok: true, format: "pem" });
    expect(KEY_FORMATS).toEqual(["JWKS", "PEM", "HMAC"]);
  });

  it("never serializes key material", () => {
    const hex = randomBytes(32).toString("hex");
    const result = parse(hex, "HMAC");
    expect(result.ok).toBe(true);
    expect(JSON.stringify(result)).not.toContain(hex);
  });
});
