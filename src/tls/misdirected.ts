/**
 * RFC 9110 §15.5.20 421 Misdirected Request: on a TLS connection, a request whose
 * Host is not the name the client asked for in SNI was sent on a connection that
 * is not authoritative for it (the certificate was chosen for another name). It is
 * refused rather than served, which also stops domain fronting across routes.
 */
import type { TLSSocket } from "node:tls";
import { normalizeServerName } from "./contexts.js";

/**
 * Why the request is misdirected, or `undefined` when it is not. Only TLS connections
 * with an SNI name are checked: the canonical Host name (lower case, no port, no trailing
 * dot — the one routing uses) and SNI must name the same host. No SNI, or no Host, is not
 * a mismatch.
 */
export function misdirected(socket: unknown, hostname: string): string | undefined {
  const servername = (socket as Partial<TLSSocket>).servername;
  if (typeof servername !== "string" || servername === "") return undefined;
  if (hostname === "") return undefined;
  const sni = normalizeServerName(servername);
  if (hostname === sni) return undefined;
  return `Host ${hostname} does not match the TLS server name ${sni}; open a new connection for ${hostname}`;
}
