import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TrustedProxies, clientAddress, hopAddress, plainAddress } from "./client-identity.js";

const proxies = new TrustedProxies(["10.0.0.0/8", "fd00::/8"]);
const LB = "10.0.0.1";

describe("clientAddress", () => {
  it("refuses every header from an untrusted peer so that a client cannot name itself", () => {
    const headers = { "x-forwarded-for": "1.1.1.1", forwarded: "for=2.2.2.2", "x-real-ip": "3.3.3.3" };
    for (const header of ["X-Forwarded-For", "Forwarded", "X-Real-IP"] as const) {
      expect(clientAddress("198.51.100.7", headers, proxies, header)).toBe("198.51.100.7");
    }
  });

  it("refuses a client's own Forwarded when X-Forwarded-For is the chosen header, so that it cannot beat the proxy's append", () => {
    const headers = { forwarded: "for=203.0.113.66", "x-forwarded-for": "198.51.100.7" };
    expect(clientAddress(LB, headers, proxies)).toBe("198.51.100.7");
  });

  it("refuses a client's own X-Forwarded-For when Forwarded is the chosen header", () => {
    const headers = { forwarded: "for=198.51.100.7;proto=https", "x-forwarded-for": "203.0.113.66" };
    expect(clientAddress(LB, headers, proxies, "Forwarded")).toBe("198.51.100.7");
  });

  it("walks right to left past trusted hops so that a forged left part is never believed", () => {
    const headers = { "x-forwarded-for": "203.0.113.66, 198.51.100.7, 10.1.1.1" };
    expect(clientAddress(LB, headers, proxies)).toBe("198.51.100.7");
  });

  it("refuses to return a trusted hop when the whole chain is trusted, so that rotating it escapes no limit", () => {
    expect(clientAddress(LB, { "x-forwarded-for": "10.9.9.9, 10.1.1.1" }, proxies)).toBe(LB);
    expect(clientAddress(LB, { forwarded: 'for="[fd00::9]"' }, proxies, "Forwarded")).toBe(LB);
  });

  it("stops at garbage and answers the peer, so that an unreadable hop vouches for nothing", () => {
    for (const xff of ["198.51.100.7, not-an-ip", "198.51.100.7, , 10.1.1.1", "198.51.100.7,unknown"]) {
      expect(clientAddress(LB, { "x-forwarded-for": xff }, proxies)).toBe(LB);
    }
    for (const fwd of [
      "for=198.51.100.7, for=unknown",
      "for=198.51.100.7, for=_hidden",
      "for=1.1.1.1, proto=https",
    ]) {
      expect(clientAddress(LB, { forwarded: fwd }, proxies, "Forwarded")).toBe(LB);
    }
  });

  it("takes the untrusted hop right of any garbage", () => {
    expect(clientAddress(LB, { "x-forwarded-for": "garbage, 198.51.100.7" }, proxies)).toBe("198.51.100.7");
  });

  it("reads repeated header instances as one list in order", () => {
    const headers = { "x-forwarded-for": ["198.51.100.7", "203.0.113.66, 10.1.1.1"] };
    expect(clientAddress(LB, headers, proxies)).toBe("203.0.113.66");
  });

  it("reads bracketed IPv6 with ports, quoted values and IPv4 with ports in Forwarded", () => {
    const cases: [string, string][] = [
      ['for="[2001:DB8:cafe::17]:4711"', "2001:db8:cafe::17"],
      ['for="192.0.2.43:47011"', "192.0.2.43"],
      ["For=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"],
      ['for="[::ffff:192.0.2.9]"', "192.0.2.9"],
      ['for=192.0.2.1, for="[fd00::1]"', "192.0.2.1"],
    ];
    for (const [forwarded, client] of cases) {
      expect(clientAddress(LB, { forwarded }, proxies, "Forwarded")).toBe(client);
    }
  });

  it("keeps a quoted comma inside one Forwarded element, so that it cannot smuggle a second hop", () => {
    expect(clientAddress(LB, { forwarded: 'for="198.51.100.7, 10.1.1.1"' }, proxies, "Forwarded")).toBe(LB);
  });

  it("reads X-Real-IP as one address and refuses a list", () => {
    expect(clientAddress(LB, { "x-real-ip": "198.51.100.7" }, proxies, "X-Real-IP")).toBe("198.51.100.7");
    expect(clientAddress(LB, { "x-real-ip": "198.51.100.7, 203.0.113.1" }, proxies, "X-Real-IP")).toBe(LB);
    expect(clientAddress(LB, { "x-real-ip": "10.3.3.3" }, proxies, "X-Real-IP")).toBe(LB);
  });

  it("treats an IPv4-mapped peer as its IPv4 address", () => {
    const headers = { "x-forwarded-for": "198.51.100.7" };
    expect(clientAddress("::ffff:10.0.0.1", headers, proxies)).toBe("198.51.100.7");
    expect(clientAddress("::ffff:198.51.100.9", headers, proxies)).toBe("198.51.100.9");
  });

  it("spells one address one way, so that a per-client limit cannot be escaped by respelling it", () => {
    const spellings = ["2001:db8::1", "2001:0DB8:0:0:0:0:0:1", "[2001:db8::1]:443"];
    const seen = new Set(spellings.map((s) => clientAddress(LB, { "x-forwarded-for": s }, proxies)));
    expect([...seen]).toEqual(["2001:db8::1"]);
  });

  it("never returns a trusted address unless it is the peer, whatever the chain", () => {
    const hop = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.constantFrom("10.1.2.3", "fd00::5", "unknown", "", "[fd00::1]:80", "10.0.0.9:8080"),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(hop, { maxLength: 6 }), (hops) => {
        const client = clientAddress(LB, { "x-forwarded-for": hops.join(", ") }, proxies);
        expect(client === LB || !proxies.has(client)).toBe(true);
      }),
    );
  });
});

describe("hopAddress", () => {
  it.each([
    ["1.2.3.4", "1.2.3.4"],
    [" 1.2.3.4:8080 ", "1.2.3.4"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["[2001:db8::1]:80", "2001:db8::1"],
    ["[2001:db8::1", undefined],
    ["[1.2.3.4]", undefined],
    ["[2001:db8::1]x", undefined],
    ["1.2.3.4:99999999", undefined],
    ["example.com", undefined],
  ])("%s → %s", (token, address) => {
    expect(hopAddress(token)).toBe(address);
  });
});

describe("plainAddress", () => {
  it("unmaps IPv4-mapped IPv6 in any spelling", () => {
    expect(plainAddress("::ffff:192.0.2.42")).toBe("192.0.2.42");
    expect(plainAddress("::FFFF:c000:22a")).toBe("192.0.2.42");
    expect(plainAddress("192.0.2.42")).toBe("192.0.2.42");
    expect(plainAddress(undefined)).toBe("");
  });
});
