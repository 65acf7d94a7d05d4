/**
 * Who the client is. The socket peer, unless the peer is a trusted proxy
 * (`--trusted-proxies`), in which case X-Forwarded-For / Forwarded say who it
 * forwarded for. Headers from untrusted peers are never believed.
 */
import { BlockList, isIP } from "node:net";

export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  /** @param cidrs e.g. ["10.0.0.0/8", "192.168.1.7", "fd00::/8"] */
  constructor(cidrs: readonly string[] = []) {
    for (const cidr of cidrs) {
      const [address = "", bits] = cidr.trim().split("/");
      const family = isIP(address);
      if (family === 0) throw new Error(`--trusted-proxies: "${cidr}" is not an IP address or CIDR`);
      const type = family === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) this.#list.addAddress(address, type);
      else this.#list.addSubnet(address, Number(bits), type);
    }
    this.#empty = cidrs.length === 0;
  }

  has(address: string): boolean {
    if (this.#empty) return false;
    const family = isIP(address);
    return family !== 0 && this.#list.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}

/** Strips `::ffff:` from IPv4-mapped addresses. */
export function plainAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** The addresses of a Forwarded header's `for=` parameters, in order. */
function forwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(",")) {
    for (const pair of element.split(";")) {
      const [key, value] = pair.split("=");
      if (key?.trim().toLowerCase() !== "for" || !value) continue;
      let v = value.trim().replace(/^"|"$/g, "");
      if (v.startsWith("[")) v = v.slice(1, v.indexOf("]"));
      else if (v.split(":").length === 2) v = v.split(":")[0] as string;
      out.push(v);
    }
  }
  return out;
}

/**
 * The client address for limits, logs and X-Forwarded-For. Walks the forwarding
 * chain from the right, skipping trusted proxies; the first untrusted hop is the
 * client.
 */
export function clientAddress(
  peer: string,
  headers: { "x-forwarded-for"?: string | string[] | undefined; forwarded?: string | string[] | undefined },
  trusted: TrustedProxies,
): string {
  if (!trusted.has(peer)) return peer;
  const forwarded = headers.forwarded;
  const xff = headers["x-forwarded-for"];
  const chain = forwarded
    ? forwardedFor(Array.isArray(forwarded) ? forwarded.join(",") : forwarded)
    : xff
      ? (Array.isArray(xff) ? xff.join(",") : xff).split(",").map((s) => s.trim())
      : [];
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = plainAddress(chain[i]);
    if (isIP(hop) === 0) return peer; // garbage in the chain: believe only the peer
    if (!trusted.has(hop)) return hop;
  }
  return chain.length > 0 ? plainAddress(chain[0]) : peer;
}
