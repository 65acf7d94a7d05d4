/**
 * Generators of PROXY protocol headers (HAProxy's spec, v1 text and v2 binary):
 * valid ones naming a client, LOCAL/UNKNOWN ones, and malformed, truncated or
 * garbage ones. Each says whether the gateway has enough bytes to decide, and which
 * client address a valid one names.
 */
import fc from "fast-check";

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface ProxyHeaderCase {
  /** What it is, for the counterexample. */
  readonly label: string;
  readonly bytes: Buffer;
  /**
   * `proxied`: a valid header naming `source`; `local`: valid, keep the peer;
   * `invalid`: the gateway must drop the connection; `incomplete`: it must wait
   * (the client gives up first).
   */
  readonly verdict: "proxied" | "local" | "invalid" | "incomplete";
  readonly source?: string;
}

function v2(command: number, family: number, addresses: Buffer, lengthField = addresses.length): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(lengthField, 2);
  return Buffer.concat([V2_SIGNATURE, head, addresses]);
}

function ipv4(text: string): Buffer {
  return Buffer.from(text.split(".").map(Number));
}

function ipv6(groups: readonly number[]): Buffer {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

function ports(source: number, destination: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(source);
  b.writeUInt16BE(destination, 2);
  return b;
}

const sourceV4 = fc.constantFrom("203.0.113.7", "198.51.100.1", "10.1.2.3", "0.0.0.0", "255.255.255.255");
const sourcePort = fc.integer({ min: 0, max: 65535 });

const valid: fc.Arbitrary<ProxyHeaderCase> = fc.oneof(
  fc.tuple(sourceV4, sourcePort).map(([source, port]) => ({
    label: `v1 TCP4 ${source}`,
    bytes: Buffer.from(`PROXY TCP4 ${source} 127.0.0.1 ${port} 8080\r\n`),
    verdict: "proxied" as const,
    source,
  })),
  sourcePort.map((port) => ({
    label: "v1 TCP6 2001:db8::7",
    bytes: Buffer.from(`PROXY TCP6 2001:db8::7 ::1 ${port} 8080\r\n`),
    verdict: "proxied" as const,
    source: "2001:db8::7",
  })),
  fc.constant({ label: "v1 UNKNOWN", bytes: Buffer.from("PROXY UNKNOWN\r\n"), verdict: "local" as const }),
  fc.tuple(sourceV4, sourcePort, fc.uint8Array({ maxLength: 40 })).map(([source, port, tlvs]) => ({
    label: `v2 PROXY TCP4 ${source} (+${tlvs.length} TLV bytes)`,
    bytes: v2(0x1, 0x11, Buffer.concat([ipv4(source), ipv4("127.0.0.1"), ports(port, 8080), tlvs])),
    verdict: "proxied" as const,
    source,
  })),
  sourcePort.map((port) => ({
    label: "v2 PROXY TCP6 2001:db8::7",
    bytes: v2(
      0x1,
      0x21,
      Buffer.concat([
        ipv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]),
        ipv6([0, 0, 0, 0, 0, 0, 0, 1]),
        ports(port, 8080),
      ]),
    ),
    verdict: "proxied" as const,
    source: "2001:db8::7",
  })),
  fc.constant({ label: "v2 LOCAL", bytes: v2(0x0, 0x00, Buffer.alloc(0)), verdict: "local" as const }),
  fc.constant({
    label: "v2 PROXY AF_UNSPEC",
    bytes: v2(0x1, 0x00, Buffer.alloc(0)),
    verdict: "local" as const,
  }),
  fc.constant({
    label: "v2 PROXY AF_UNIX",
    bytes: v2(0x1, 0x31, Buffer.alloc(216)),
    verdict: "local" as const,
  }),
);

const invalid: fc.Arbitrary<ProxyHeaderCase> = fc.oneof(
  fc
    .constantFrom(
      "PROXY TCP4 203.0.113.7 127.0.0.1 1 2 3\r\n",
      "PROXY TCP4 2001:db8::7 127.0.0.1 1 2\r\n",
      "PROXY TCP6 203.0.113.7 ::1 1 2\r\n",
      "PROXY TCP4 203.0.113.7 127.0.0.1 70000 2\r\n",
      "PROXY TCP4 203.0.113.7 127.0.0.1 -1 2\r\n",
      "PROXY TCP4 203.0.113.7 127.0.0.1 1.5 2\r\n",
      "PROXY TCP4 999.0.113.7 127.0.0.1 1 2\r\n",
      "PROXY TCP5 203.0.113.7 127.0.0.1 1 2\r\n",
      "PROXY  TCP4 203.0.113.7 127.0.0.1 1 2\r\n",
      "proxy TCP4 203.0.113.7 127.0.0.1 1 2\r\n",
      "PROXY\r\n",
      `PROXY TCP4 ${"1".repeat(120)}\r\n`,
      "GET / HTTP/1.1\r\n",
    )
    .map((text) => ({ label: JSON.stringify(text), bytes: Buffer.from(text), verdict: "invalid" as const })),
  fc.constant({
    label: "v2 version 1",
    bytes: Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]),
    verdict: "invalid" as const,
  }),
  fc.constant({
    label: "v2 command 0x5",
    bytes: v2(0x5, 0x11, Buffer.alloc(12)),
    verdict: "invalid" as const,
  }),
  fc.constant({
    label: "v2 signature typo",
    bytes: Buffer.concat([
      V2_SIGNATURE.subarray(0, 11),
      Buffer.from([0x0b, 0x21, 0x11, 0x00, 0x0c]),
      Buffer.alloc(12),
    ]),
    verdict: "invalid" as const,
  }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => {
    const b = Buffer.from(bytes);
    // Garbage that happens to begin like a header could be waiting for more: make it not.
    if (b[0] === 0x0d || b[0] === 0x50) b[0] = 0x00;
    return { label: `garbage ${b.toString("hex")}`, bytes: b, verdict: "invalid" as const };
  }),
);

const incomplete: fc.Arbitrary<ProxyHeaderCase> = fc.oneof(
  fc
    .constantFrom("PROXY TCP4 203.0.113.7", "P", "PROXY", "PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r")
    .map((text) => ({
      label: JSON.stringify(text),
      bytes: Buffer.from(text),
      verdict: "incomplete" as const,
    })),
  fc.integer({ min: 1, max: 15 }).map((n) => ({
    label: `v2 signature cut at ${n}`,
    bytes: v2(0x1, 0x11, Buffer.alloc(12)).subarray(0, n),
    verdict: "incomplete" as const,
  })),
  fc.constantFrom(100, 1_000, 65_535).map((declared) => ({
    label: `v2 declaring ${declared} address bytes, sending 12`,
    bytes: v2(0x1, 0x11, Buffer.concat([ipv4("203.0.113.7"), ipv4("127.0.0.1"), ports(1, 8080)]), declared),
    verdict: "incomplete" as const,
  })),
);

export const proxyHeader: fc.Arbitrary<ProxyHeaderCase> = fc.oneof(
  { weight: 4, arbitrary: valid },
  { weight: 3, arbitrary: invalid },
  { weight: 1, arbitrary: incomplete },
);
