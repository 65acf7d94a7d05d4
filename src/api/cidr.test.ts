import { describe, expect, it } from "vitest";
import { isCidr, parseCidr } from "./cidr.js";

describe("parseCidr", () => {
  it.each([
    "10.0.0.0/8",
    "10.1.2.3/32",
    "0.0.0.0/0",
    "2001:db8::/32",
    "::/0",
    "::1/128",
    "::ffff:10.0.0.0/104",
  ])("accepts %s so that every block Go's net.ParseCIDR accepts is usable", (text) =>
    expect(isCidr(text)).toBe(true),
  );

  it.each([
    ["10.0.0.1", "a bare address: the API server wants a prefix length"],
    ["10.0.0.0/33", "prefix longer than the family"],
    ["2001:db8::/129", "prefix longer than the family"],
    ["10.0.0.0/-1", "negative prefix"],
    ["10.0.0.0/ 8", "space"],
    ["010.0.0.0/8", "octal-looking octet"],
    ["fe80::1%eth0/64", "zone"],
    ["example.com/24", "a name"],
    ["10.0.0.0/8/8", "two slashes"],
    ["", "empty"],
  ])("refuses %s (%s) so that zod refuses what the CRD's format: cidr refuses", (text) =>
    expect(isCidr(text)).toBe(false),
  );

  it("keeps the family so that a v4 block is never read as a v6 one", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ address: "10.0.0.0", prefix: 8, family: "ipv4" });
    expect(parseCidr("2001:db8::/32")).toEqual({ address: "2001:db8::", prefix: 32, family: "ipv6" });
  });
});
