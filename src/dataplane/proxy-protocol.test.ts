import { describe, expect, it } from "vitest";
import { ProxyHeaderReader, type ReadOutcome } from "./proxy-protocol.js";

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 PROXY header for TCP over IPv4 from 198.51.100.23:51234, with `tlvBytes` bytes of TLVs. */
function v2Header(tlvBytes = 0): Buffer {
  const addresses = Buffer.from([198, 51, 100, 23, 10, 0, 0, 1, 0xc8, 0x22, 0x1f, 0x90]);
  const tlvs = Buffer.alloc(tlvBytes);
  // One NOOP TLV (type 0x04) filling the space: a balancer may pad its header so.
  if (tlvBytes >= 3) {
    tlvs[0] = 0x04;
    tlvs.writeUInt16BE(tlvBytes - 3, 1);
  }
  const fixed = Buffer.from([0x21, 0x11, 0, 0]);
  fixed.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([SIGNATURE, fixed, addresses, tlvs]);
}

/** Feeds `bytes` one byte per chunk; returns the outcome and the chunks it took. */
function dribble(reader: ProxyHeaderReader, bytes: Buffer): { outcome: ReadOutcome; chunks: number } {
  let outcome: ReadOutcome = { kind: "incomplete" };
  let chunks = 0;
  for (let i = 0; i < bytes.length && outcome.kind === "incomplete"; i++, chunks++) {
    outcome = reader.push(bytes.subarray(i, i + 1));
  }
  return { outcome, chunks };
}

describe("ProxyHeaderReader", () => {
  it("refuses to copy a dribbled v1 header more than once, so that its cost stays linear", () => {
    const header = Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\n");
    const reader = new ProxyHeaderReader();
    const { outcome, chunks } = dribble(reader, header);
    expect(outcome).toMatchObject({ kind: "proxied", sourceAddress: "203.0.113.7", sourcePort: 51234 });
    expect(chunks).toBe(header.length);
    expect(reader.copiedBytes).toBe(header.length);
  });

  it("refuses to copy a dribbled 64 KiB v2 header more than once, so that its cost stays linear", () => {
    const header = v2Header(65_000);
    const reader = new ProxyHeaderReader();
    const started = performance.now();
    const { outcome } = dribble(reader, header);
    const elapsedMs = performance.now() - started;
    expect(outcome).toMatchObject({ kind: "proxied", sourceAddress: "198.51.100.23", sourcePort: 51234 });
    // Re-concatenating per chunk copies n²/2 ≈ 2.1 GB here; the reader copies n + 16 bytes.
    expect(reader.copiedBytes).toBeLessThanOrEqual(header.length + 16);
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it("hands over the bytes after the header, whatever the chunking", () => {
    const header = v2Header(5);
    const request = Buffer.from("GET / HTTP/1.1\r\n");
    const whole = Buffer.concat([header, request]);
    for (const cut of [1, 13, 16, header.length, header.length + 3]) {
      const reader = new ProxyHeaderReader();
      const first = reader.push(whole.subarray(0, cut));
      const outcome = first.kind === "incomplete" ? reader.push(whole.subarray(cut)) : first;
      const rest = whole.subarray(header.length, first.kind === "incomplete" ? whole.length : cut);
      expect(outcome).toMatchObject({ kind: "proxied", length: header.length });
      expect((outcome as { rest: Buffer }).rest.equals(rest)).toBe(true);
    }
  });

  it("treats LOCAL and UNKNOWN headers as the balancer's own connection", () => {
    const local = Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    expect(new ProxyHeaderReader().push(local)).toMatchObject({ kind: "local", length: 16 });
    expect(new ProxyHeaderReader().push(Buffer.from("PROXY UNKNOWN\r\n"))).toMatchObject({ kind: "local" });
  });

  it.each([
    ["a request instead of a header", Buffer.from("GET / HTTP/1.1\r\n")],
    ["a v1 line over 107 bytes", Buffer.from(`PROXY TCP4 ${"1".repeat(120)}\r\n`)],
    ["a v1 line ending in a bare LF", Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\n")],
    ["a v1 header with a bad address", Buffer.from("PROXY TCP4 203.0.113.700 10.0.0.1 51234 8080\r\n")],
    [
      "a v2 signature that goes wrong",
      Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x00]),
    ],
    ["a v2 header of version 3", Buffer.concat([SIGNATURE, Buffer.from([0x31, 0x11, 0x00, 0x00])])],
  ])("refuses %s, so that the listener never guesses a client", (_name, bytes) => {
    expect(dribble(new ProxyHeaderReader(), bytes).outcome.kind).toBe("invalid");
  });

  it("refuses a v2 signature at its first wrong byte, without waiting for more", () => {
    const reader = new ProxyHeaderReader();
    expect(reader.push(Buffer.from([0x0d, 0x0a, 0x0d]))).toEqual({ kind: "incomplete" });
    expect(reader.push(Buffer.from([0x00])).kind).toBe("invalid");
  });
});
