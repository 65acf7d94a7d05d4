/**
 * RFC 9110 §15.5.20 421 Misdirected Request: on a TLS connection, a request whose
 * Host is not the name the client asked for in SNI was sent on a connection that
 * is not authoritative for it (the certificate was chosen for another name). It is
 * refused rather than served, which also stops domain fronting across routes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { normalizeHost } from "../routing/table.js";
import { normalizeServerName } from "./contexts.js";

/**
 * Why the request is misdirected, or `undefined` when it is not. Only TLS
 * connections with an SNI name are checked: Host and SNI must name the same host
 * (case, port and a trailing dot aside). No SNI, or no Host, is not a mismatch.
 */
export function misdirected(req: IncomingMessage): string | undefined {
  const servername = (req.socket as Partial<TLSSocket>).servername;
  if (typeof servername !== "string" || servername === "") return undefined;
  const host = normalizeHost(req.headers.host);
  if (host === "") return undefined;
  const sni = normalizeServerName(servername);
  if (host === sni) return undefined;
  return `Host ${host} does not match the TLS server name ${sni}; open a new connection for ${host}`;
}

/** Answers a plain HTTP request with 421 when it is misdirected; returns true if it did. */
export function answerIfMisdirected(req: IncomingMessage, res: ServerResponse): boolean {
  const problem = misdirected(req);
  if (problem === undefined) return false;
  const body = `${problem}\n`;
  res.writeHead(421, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
  return true;
}
