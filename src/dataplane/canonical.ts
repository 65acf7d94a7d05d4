/**
 * The canonical request: what wsgate reasons about, computed once at entry from the
 * raw request line and headers. Matching, auth, logs and the request sent upstream
 * all use it, so a backend receives exactly the host and path that were matched and
 * authorised — never a variant it would resolve differently (`/%2e%2e/api`,
 * `http://host/api`, `Host: a@b`). Anything that has no canonical form is refused
 * with 400 before it reaches a route. Pure: no I/O, no clock.
 */
import { isIPv6 } from "node:net";
import { normalizePath } from "../api/request-path.js";

export interface CanonicalRequest {
  /** Lower case, no port, no trailing dot; `[v6]` bracketed; `""` when the request named no host. */
  readonly hostname: string;
  /** `hostname[:port]`: the Host (and X-Forwarded-Host) sent upstream. */
  readonly authority: string;
  /** The normalised path (see api/request-path.ts), without the query. */
  readonly path: string;
  /** `""` or `?…` exactly as the client sent it. */
  readonly query: string;
  /** `path + query`: the request target sent upstream (origin form). */
  readonly target: string;
  /** The path holds `%2F`; refused unless the matched route sets `allowEncodedSlashes`. */
  readonly encodedSlash: boolean;
}

export type Canonicalization =
  | { readonly ok: true; readonly request: CanonicalRequest }
  | {
      readonly ok: false;
      /** Why, for the 400 body and the rejection event. */
      readonly message: string;
      /** The raw path without its query (queries may carry tokens), for logs. */
      readonly path: string;
    };

export interface Authority {
  readonly hostname: string;
  readonly port?: number;
}

export type AuthorityParse = ({ ok: true } & Authority) | { ok: false; problem: string };

/** reg-name characters wsgate accepts in a host: RFC 3986 unreserved, no escapes or sub-delims. */
const REG_NAME = /^[a-z0-9._~-]+$/;
const NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;
const PORT = /^[0-9]{1,5}$/;

function isDottedQuad(name: string): boolean {
  const parts = name.split(".");
  return parts.length === 4 && parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/**
 * Parses `host[:port]` (a Host header, or the authority of an absolute-form target):
 * a DNS-style reg-name, a dotted-quad IPv4 address or a bracketed IPv6 address, lower-cased,
 * one trailing dot dropped; an empty port is dropped. Userinfo, escapes, zone ids, empty
 * labels and names whose last label is numeric but that are no IPv4 address are refused
 * (WHATWG URL parsers reject the latter, so backends would disagree about them).
 */
export function parseAuthority(value: string): AuthorityParse {
  const text = value.toLowerCase();
  if (text.includes("@")) return { ok: false, problem: "userinfo (@) is not allowed in a host" };
  let hostname: string;
  let rest: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end === -1) return { ok: false, problem: "unterminated IPv6 address" };
    const address = text.slice(1, end);
    if (!isIPv6(address) || address.includes("%")) return { ok: false, problem: "invalid IPv6 address" };
    hostname = `[${address}]`;
    rest = text.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) return { ok: false, problem: "unexpected text after ]" };
  } else {
    const colon = text.indexOf(":");
    hostname = colon === -1 ? text : text.slice(0, colon);
    rest = colon === -1 ? "" : text.slice(colon);
    if (hostname.endsWith(".")) hostname = hostname.slice(0, -1);
    if (!REG_NAME.test(hostname)) return { ok: false, problem: "invalid host name" };
    const labels = hostname.split(".");
    if (labels.some((l) => l === "")) return { ok: false, problem: "empty label in host name" };
    if (NUMERIC_LABEL.test(labels[labels.length - 1] as string) && !isDottedQuad(hostname)) {
      return { ok: false, problem: "invalid IPv4 address" };
    }
  }
  if (rest === "" || rest === ":") return { ok: true, hostname };
  const port = rest.slice(1);
  if (!PORT.test(port) || Number(port) > 65535) return { ok: false, problem: "invalid port" };
  return { ok: true, hostname, port: Number(port) };
}

function authorityText({ hostname, port }: Authority): string {
  return port === undefined ? hostname : `${hostname}:${port}`;
}

const ABSOLUTE_FORM = /^([a-z][a-z0-9+.-]*):\/\/([^/?]*)(.*)$/i;
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };

/** The raw path part of a target for logs: no query, bounded. */
function loggedPath(target: string): string {
  const q = target.search(/[?#]/);
  return (q === -1 ? target : target.slice(0, q)).slice(0, 256);
}

/**
 * Turns a raw request target (`req.url`) and raw headers (`req.rawHeaders`, where a
 * second Host is still visible) into the canonical request, or says why there is none.
 */
export function canonicalize(url: string | undefined, rawHeaders: readonly string[]): Canonicalization {
  const target = url ?? "/";
  const refuse = (message: string): Canonicalization => ({ ok: false, message, path: loggedPath(target) });

  let hostValue: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== "host") continue;
    if (hostValue !== undefined) return refuse("more than one Host header");
    hostValue = rawHeaders[i + 1] as string;
  }
  // HTTP/1.0 may omit Host, and an empty Host is allowed (RFC 9112 §3.2): such a request
  // names no host and can only match routes for any host.
  let named: Authority = { hostname: "" };
  const hostText = hostValue?.trim() ?? "";
  if (hostText !== "") {
    const host = parseAuthority(hostText);
    if (!host.ok) return refuse(`invalid Host header: ${host.problem}`);
    named =
      host.port === undefined ? { hostname: host.hostname } : { hostname: host.hostname, port: host.port };
  }

  if (target.includes("#")) return refuse("a fragment (#) is not allowed in the request target");
  let originForm: string;
  if (target.startsWith("/")) {
    originForm = target;
  } else {
    const absolute = ABSOLUTE_FORM.exec(target);
    if (!absolute) return refuse("the request target must be a path or an absolute http(s) URL");
    const [, scheme = "", authority = "", rest = ""] = absolute;
    const defaultPort = DEFAULT_PORTS[scheme.toLowerCase()];
    if (defaultPort === undefined) return refuse(`unsupported scheme ${scheme} in the request target`);
    const parsed = parseAuthority(authority);
    if (!parsed.ok) return refuse(`invalid authority in the request target: ${parsed.problem}`);
    const samePort = (parsed.port ?? defaultPort) === (named.port ?? defaultPort);
    if (parsed.hostname !== named.hostname || !samePort) {
      return refuse("absolute-form target does not match Host");
    }
    originForm = rest.startsWith("/") ? rest : `/${rest}`;
  }

  const q = originForm.indexOf("?");
  const rawPath = q === -1 ? originForm : originForm.slice(0, q);
  const query = q === -1 ? "" : originForm.slice(q);
  const path = normalizePath(rawPath);
  if (!path.ok) return refuse(path.problem);
  return {
    ok: true,
    request: {
      hostname: named.hostname,
      authority: authorityText(named),
      path: path.path,
      query,
      target: path.path + query,
      encodedSlash: path.encodedSlash,
    },
  };
}
