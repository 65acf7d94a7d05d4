/**
 * Who the client is — one trust model for limits, source ranges, affinity and logs.
 *
 * The socket peer (or the source of a PROXY protocol header) is the client, unless
 * the peer is in `--trusted-proxies`. Only then is one header read, the one chosen
 * with `--client-address-header` (default X-Forwarded-For); the others are ignored
 * for identity, so a client's own `Forwarded: for=…` can never beat the
 * X-Forwarded-For a trusted proxy appended. The chosen header is walked from the
 * right, each trusted hop vouching for the hop to its left; the first untrusted
 * address is the client.
 *
 * Decisions, where a chain gives no untrusted address, and why:
 * - every hop is trusted (or the header is absent or empty) → the peer. The
 *   left-most hop of an all-trusted chain is whatever the first sender wrote — a
 *   client inside a trusted range can rotate it to escape per-client limits — so a
 *   trusted hop is never returned from the header.
 * - a hop that is not an IP address (garbage, `unknown`, an obfuscated `_id`, an
 *   element without `for=`) stops the walk → the peer. Hops right of it were all
 *   trusted (else the walk had ended), so nothing untrusted was vouched for.
 * - X-Real-IP holds one address; more than one value is garbage.
 */
import type { IncomingHttpHeaders } from "node:http";
import { BlockList, SocketAddress, isIP } from "node:net";

/** The headers `--client-address-header` may name. */
export const CLIENT_ADDRESS_HEADERS = ["X-Forwarded-For", "Forwarded", "X-Real-IP"] as const;
export type ClientAddressHeader = (typeof CLIENT_ADDRESS_HEADERS)[number];

/** The peers whose forwarding headers (and PROXY protocol headers) are believed. */
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

  /** No proxy is trusted (`--trusted-proxies` unset). */
  get empty(): boolean {
    return this.#empty;
  }

  has(address: string): boolean {
    if (this.#empty) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.#list.check(plain, family === 6 ? "ipv6" : "ipv4");
  }
}

/**
 * One spelling per address, so that a limit keyed by address cannot be escaped by
 * writing it another way: IPv6 canonical and lower-case (zone dropped), IPv4-mapped
 * IPv6 (`::ffff:a.b.c.d`) as plain IPv4. Anything else is returned unchanged.
 */
export function plainAddress(address: string | undefined): string {
  if (!address) return "";
  // Only IPv6 needs a canonical spelling, and every IPv6 address has a colon: IPv4 peers skip
  // isIP's regexes on every handshake.
  if (!address.includes(":") || isIP(address) !== 6) return address;
  const canonical = new SocketAddress({ address, family: "ipv6" }).address;
  return canonical.startsWith("::ffff:") && canonical.includes(".") ? canonical.slice(7) : canonical;
}

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const PORT = /^:\d{1,5}$/;

/**
 * The address of one hop as proxies write it: `a.b.c.d`, `a.b.c.d:port`, a bare
 * IPv6 address, `[v6]` or `[v6]:port`. `undefined` when it is none of these.
 */
export function hopAddress(token: string): string | undefined {
  let value = token.trim();
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end === -1) return undefined;
    const after = value.slice(end + 1);
    if (after !== "" && !PORT.test(after)) return undefined;
    value = value.slice(1, end);
    if (isIP(value) !== 6) return undefined;
  } else {
    value = IPV4_WITH_PORT.exec(value)?.[1] ?? value;
  }
  return isIP(value) === 0 ? undefined : plainAddress(value);
}

/** Splits on `separator` outside quoted strings (RFC 9110 §5.6.4), so `for="a,b"` stays whole. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted && c === "\\" && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  const v = value.trim();
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v;
}

/**
 * The `for=` value of each Forwarded element (RFC 7239), in order. An element
 * without exactly one `for=` yields `""`: a hop the walk cannot read.
 */
function forwardedHops(header: string): string[] {
  return splitOutsideQuotes(header, ",").map((element) => {
    const fors = splitOutsideQuotes(element, ";")
      .map((pair) => {
        const eq = pair.indexOf("=");
        return eq === -1
          ? undefined
          : { key: pair.slice(0, eq).trim().toLowerCase(), value: pair.slice(eq + 1) };
      })
      .filter((p) => p?.key === "for");
    return fors.length === 1 ? unquote((fors[0] as { value: string }).value) : "";
  });
}

/** All instances of a header as one comma-joined value (Node joins repeated ones in order already). */
function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The hops the chosen header lists, left (farthest) to right (nearest). */
function hopsOf(headers: IncomingHttpHeaders, header: ClientAddressHeader): string[] {
  switch (header) {
    case "Forwarded": {
      const value = joined(headers.forwarded);
      return value === undefined || value.trim() === "" ? [] : forwardedHops(value);
    }
    case "X-Real-IP": {
      const value = joined(headers["x-real-ip"]);
      if (value === undefined || value.trim() === "") return [];
      // One address; a list (or a repeated header) cannot say which one is true.
      return [value.includes(",") ? "" : value];
    }
    case "X-Forwarded-For": {
      const value = joined(headers["x-forwarded-for"]);
      return value === undefined || value.trim() === "" ? [] : value.split(",");
    }
  }
}

/**
 * The client address for limits, source ranges, affinity and logs (see the module
 * comment for the trust model). `peer` is the socket peer or the PROXY source.
 */
export function clientAddress(
  peer: string,
  headers: IncomingHttpHeaders,
  trusted: TrustedProxies,
  header: ClientAddressHeader = "X-Forwarded-For",
): string {
  const self = plainAddress(peer);
  if (!trusted.has(self)) return self;
  const hops = hopsOf(headers, header);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i] as string);
    if (hop === undefined) return self;
    if (!trusted.has(hop)) return hop;
  }
  return self;
}
