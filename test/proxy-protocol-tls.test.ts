/**
 * `--proxy-protocol` on both listeners, composed as `wsgate serve` does it: a
 * cloud load balancer in TCP mode sends a PROXY header, then the client's bytes —
 * plain HTTP on one port, a TLS handshake on the other.
 */
import { rmSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned } from "./helpers/certs.js";
import { startStandalone, tlsManifestDir } from "./helpers/standalone.js";

let dir: string;
let running: RunningGateway;
let backend: EchoBackend;
const cert = selfSigned("chat.example.com");

beforeAll(async () => {
  backend = await startEchoBackend();
  dir = tlsManifestDir("proxy-tls", "chat.example.com", cert, backend.port);
  running = await startStandalone(dir, ["--proxy-protocol"]);
});

afterAll(async () => {
  await running.stop(0);
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a WebSocket whose TCP connection first carries `header`, over TLS when `secure`. */
function viaLoadBalancer(port: number, header: string, secure: boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const scheme = secure ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://chat.example.com:${port}/`, {
      createConnection: () => {
        const raw = net.connect(port, "127.0.0.1");
        raw.write(header);
        if (!secure) return raw;
        return tls.connect({ socket: raw, servername: "chat.example.com", ca: cert.certPem });
      },
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

it("reads the client address from the PROXY header before TLS, and serves the route's certificate", async () => {
  const ws = await viaLoadBalancer(
    running.httpsAddress.port,
    "PROXY TCP4 203.0.113.50 10.0.0.1 40000 443\r\n",
    true,
  );
  const seen = backend.requests.at(-1)!.headers;
  expect(seen["x-forwarded-for"]).toBe("203.0.113.50");
  expect(seen["x-forwarded-proto"]).toBe("https");
  const reply = new Promise<string>((resolve) => ws.once("message", (d) => resolve(String(d))));
  ws.send("over tls behind a load balancer");
  expect(await reply).toBe("over tls behind a load balancer");
  ws.close();
});

it("reads the client address from the PROXY header on the plain listener", async () => {
  const ws = await viaLoadBalancer(
    running.httpAddress.port,
    "PROXY TCP4 203.0.113.51 10.0.0.1 40001 80\r\n",
    false,
  );
  expect(backend.requests.at(-1)!.headers["x-forwarded-for"]).toBe("203.0.113.51");
  ws.close();
});
