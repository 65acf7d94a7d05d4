/**
 * CIDR blocks as the API server reads them (`format: cidr`, Go's `net.ParseCIDR`):
 * an IPv4 or IPv6 address, a slash and a prefix length. A bare address is not a
 * CIDR — write `10.0.0.1/32` — so the CRD and the zod schema refuse the same values.
 */
import { isIP } from "node:net";

/** A parsed CIDR block. Host bits past the prefix are kept; matching ignores them. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

const PREFIX = /^\d{1,3}$/;
/** Go's parser refuses IPv4 octets with a leading zero (`010.0.0.1` is ambiguous: octal or decimal). */
const LEADING_ZERO_OCTET = /(^|\.)0\d/;

/** Parses `address/prefix`; `undefined` when it is not a CIDR block. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash === -1) return undefined;
  const address = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!PREFIX.test(bits) || address.includes("%")) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const prefix = Number(bits);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  if (family === 4 && LEADING_ZERO_OCTET.test(address)) return undefined;
  return { address, prefix, family: family === 4 ? "ipv4" : "ipv6" };
}

/** True for a CIDR block the API server's `format: cidr` accepts. */
export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}
