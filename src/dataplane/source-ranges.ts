/**
 * `spec.sourceRanges`: which client addresses may use a route. Judged on the client
 * identity of the trusted-proxy model (client-identity.ts), never on the socket peer
 * alone, so a route behind a load balancer is not opened to everyone the balancer
 * forwards for. As in ingress-nginx (deny rules are written before allow rules),
 * `deny` wins over `allow`.
 */
import { BlockList, isIP } from "node:net";
import { parseCidr } from "../api/cidr.js";
import type { SourceRanges } from "../api/route.js";

interface CompiledRanges {
  readonly allow: BlockList | undefined;
  readonly deny: BlockList;
}

/**
 * BlockLists built once per settings object. The table holds plain CIDR strings (it is
 * copied to every worker); each copy builds its lists on first use and drops them with the table.
 */
const compiled = new WeakMap<SourceRanges, CompiledRanges>();

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    // The schema admits only valid blocks; a block that would not parse cannot open anything.
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

function compile(ranges: SourceRanges): CompiledRanges {
  let lists = compiled.get(ranges);
  if (!lists) {
    lists = {
      allow: ranges.allow.length > 0 ? blockList(ranges.allow) : undefined,
      deny: blockList(ranges.deny),
    };
    compiled.set(ranges, lists);
  }
  return lists;
}

/** Why a client may not use the route, or `undefined` when it may. `client` is a plain address. */
export function sourceRefusal(ranges: SourceRanges, client: string): string | undefined {
  const family = isIP(client);
  // A client nobody can name cannot be shown to be inside any range: refused (fail closed).
  if (family === 0) return "the client address is unknown and the route restricts source addresses";
  const type = family === 6 ? "ipv6" : "ipv4";
  const { allow, deny } = compile(ranges);
  if (deny.check(client, type)) return `client ${client} is in the route's denied source ranges`;
  if (allow && !allow.check(client, type))
    return `client ${client} is not in the route's allowed source ranges`;
  return undefined;
}
