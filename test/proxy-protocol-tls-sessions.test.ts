/**
 * TLS behind a PROXY-protocol load balancer with no default certificate (certificates
 * by SNI only, the usual set-up): every handshake must start from one shared context,
 * as on the direct listener — not from a context built for that one connection, which
 * cost an OpenSSL context build per handshake, gave every connection its own
 * session-ticket keys (no client could resume), and reported a missing certificate for
 * clients that were then served by SNI.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { rmSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import type { TlsNoCertificate } from "../src/tls/events.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned } from "./helpers/certs.js";
import { startStandalone, tlsManifestDir } from "./helpers/standalone.js";

const HOST = "chat.example.com";
let dir: string;
let running: RunningGateway;
let backend: EchoBackend;
const cert = selfSigned(HOST);
const noCertificate: TlsNoCertificate[] = [];
const onNoCertificate = (event: unknown): void => {
  noCertificate.push(event as TlsNoCertificate);
};

beforeAll(async () => {
  diagnostics_channel.subscribe("wsgate:tls:no-certificate", onNoCertificate);
  backend = await startEchoBackend();
  dir = tlsManifestDir("proxy-tls-sessions", HOST, cert, backend.port);
  running = await startStandalone(dir, ["--proxy-protocol"]);
});

afterAll(async () => {
  diagnostics_channel.unsubscribe("wsgate:tls:no-certificate", onNoCertificate);
  await running.stop(0);
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A TLS handshake through the load balancer (`proxied`: a PROXY header first) or
 * straight to the HTTPS port. Without `session`, resolves with the session ticket the
 * gateway issues (TLS 1.3 sends it after the handshake); with one, offers it and
 * resolves with whether the gateway resumed it.
 */
function handshake(proxied: boolean): Promise<Buffer>;
function handshake(proxied: boolean, session: Buffer): Promise<boolean>;
function handshake(proxied: boolean, session?: Buffer): Promise<Buffer | boolean> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(running.httpsAddress.port, "127.0.0.1");
    if (proxied) raw.write("PROXY TCP4 203.0.113.60 10.0.0.1 40000 443\r\n");
    const socket = tls.connect({
      socket: raw,
      servername: HOST,
      ca: cert.certPem,
      ...(session ? { session } : {}),
    });
    socket.once("error", reject);
    if (session) {
      socket.once("secureConnect", () => {
        resolve(socket.isSessionReused());
        socket.destroy();
      });
      return;
    }
    socket.once("session", (ticket: Buffer) => {
      resolve(ticket);
      socket.destroy();
    });
    // The ticket is read like data: keep reading.
    socket.resume();
  });
}

it("resumes a TLS session behind a PROXY load balancer so that a returning client skips the certificate signature", async () => {
  const ticket = await handshake(true);
  expect(await handshake(true, ticket)).toBe(true);
});

it("reports no missing certificate for a PROXY TLS client that sends SNI, so that the report stays for real failures", async () => {
  noCertificate.length = 0;
  await handshake(true);
  await handshake(true);
  expect(noCertificate).toEqual([]);
  // A client without SNI has no certificate here: that failure is the one reported.
  await new Promise<void>((resolve) => {
    const raw = net.connect(running.httpsAddress.port, "127.0.0.1");
    raw.write("PROXY TCP4 203.0.113.61 10.0.0.1 40001 443\r\n");
    const socket = tls.connect({ socket: raw, ca: cert.certPem });
    socket.once("error", () => resolve());
    socket.once("close", () => resolve());
  });
  await expect.poll(() => noCertificate.length, { timeout: 10_000 }).toBe(1);
  expect(noCertificate[0]?.servername).toBeUndefined();
});
