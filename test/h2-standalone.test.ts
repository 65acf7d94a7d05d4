/**
 * `wsgate serve` with HTTP/2, composed as the CLI does it: standalone manifests, the
 * HTTPS listener and the admin listener. A WebSocket over HTTP/2 is counted under
 * `http_version="2"` in /metrics — from one thread, and summed over `--workers 2`
 * (worker threads run the built dist/: `npm run build` first) — and a stop sends
 * GOAWAY. `--http2=false` serves HTTP/1.1 only.
 */
import http from "node:http";
import type http2 from "node:http2";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned } from "./helpers/certs.js";
import { roundTrip } from "./helpers/gateway.js";
import { connectH2, h2Session } from "./helpers/h2.js";
import { startStandalone, tlsManifestDir } from "./helpers/standalone.js";

const HOST = "chat.example.com";
const cert = selfSigned(HOST);
let backend: EchoBackend;
let dir: string;

beforeAll(async () => {
  backend = await startEchoBackend();
  dir = tlsManifestDir("h2", HOST, cert, backend.port);
});

afterAll(async () => {
  await backend.close();
});

function metricsText(running: RunningGateway): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: running.adminAddress.port, path: "/metrics" }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve(text));
      })
      .once("error", reject);
  });
}

/** Polls /metrics until `pattern` appears (the worker pool collects on request). */
async function metricsMatching(running: RunningGateway, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await metricsText(running);
    if (pattern.test(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const H2_COUNTED =
  /wsgate_connections_http_version_total\{namespace="apps",route="chat",http_version="2"\} 2/;

describe.each([
  ["one thread", ["--workers", "1"]],
  ["--workers 2", ["--workers", "2"]],
])("wsgate serve (%s)", (_name, flags) => {
  let running: RunningGateway;
  const sessions: http2.ClientHttp2Session[] = [];

  beforeAll(async () => {
    running = await startStandalone(dir, flags);
    await running.workers?.waitForGeneration(1);
  });

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await running.stop(0);
  });

  it('serves WebSockets over HTTP/2 and counts them under http_version="2" in /metrics', async () => {
    for (let i = 0; i < 2; i++) {
      const s = await h2Session(running.httpsAddress.port, HOST);
      sessions.push(s);
      const { ws } = await connectH2(s, HOST);
      expect((await roundTrip(ws, `h2 ${i}`)).data.toString()).toBe(`h2 ${i}`);
    }
    expect(await metricsMatching(running, H2_COUNTED)).toMatch(H2_COUNTED);
  });

  it("sends GOAWAY to open HTTP/2 connections when it stops", async () => {
    const s = sessions[0]!;
    const goaway = new Promise<number>((resolve) => s.once("goaway", (code) => resolve(code)));
    const stopping = running.stop(0);
    expect(await goaway).toBe(0);
    await stopping;
  });
});

it("offers HTTP/1.1 only with --http2=false", async () => {
  const running = await startStandalone(dir, ["--http2=false"]);
  try {
    const alpn = await new Promise<string | false | null>((resolve, reject) => {
      const socket = tls.connect(
        {
          host: "127.0.0.1",
          port: running.httpsAddress.port,
          servername: HOST,
          ALPNProtocols: ["h2", "http/1.1"],
          rejectUnauthorized: false,
        },
        () => {
          resolve(socket.alpnProtocol);
          socket.end();
        },
      );
      socket.once("error", reject);
    });
    expect(alpn).toBe("http/1.1");
  } finally {
    await running.stop(0);
  }
});
