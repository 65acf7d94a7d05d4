/**
 * Who the client is, with real sockets: the gateway sits behind a trusted proxy
 * (127.0.0.1 here) and clients try to name themselves through the headers the
 * gateway does not read. The client the gateway settled on is observed on the
 * `connection opened` event and through the per-client connection limit.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { TrustedProxies, type ClientAddressHeader } from "../src/dataplane/client-identity.js";
import { channels, type ConnectionOpened } from "../src/dataplane/events.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await gw?.close();
  await backend?.close();
  gw = backend = undefined;
});

async function behindProxy(
  header?: ClientAddressHeader,
  limits: Record<string, unknown> = {},
  trusted = ["127.0.0.1"],
): Promise<TestGateway> {
  gw = await startTestGateway({
    trustedProxies: new TrustedProxies(trusted),
    ...(header ? { clientAddressHeader: header } : {}),
  });
  backend = await startEchoBackend();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    simpleRoute("apps", "echo", "echo", { limits }),
  ]);
  return gw;
}

/** Opens a client with `headers` and resolves with the client address the gateway settled on. */
async function clientSeen(gateway: TestGateway, headers: Record<string, string>): Promise<string> {
  let seen: string | undefined;
  const onOpened = (message: unknown): void => {
    seen = (message as ConnectionOpened).client;
  };
  channels.connectionOpened.subscribe(onOpened);
  try {
    clients.push(await connect(gateway.url(), undefined, { headers }));
  } finally {
    channels.connectionOpened.unsubscribe(onOpened);
  }
  return seen ?? "";
}

describe("client identity behind a trusted proxy", () => {
  it("refuses a client's own Forwarded so that it cannot beat the X-Forwarded-For the proxy appended", async () => {
    const gateway = await behindProxy();
    const client = await clientSeen(gateway, {
      Forwarded: "for=203.0.113.66",
      "X-Forwarded-For": "198.51.100.7",
    });
    expect(client).toBe("198.51.100.7");
  });

  it("refuses to count a spoofed Forwarded as another client, so that the per-client limit holds", async () => {
    const gateway = await behindProxy(undefined, { maxConnectionsPerClient: 1 });
    clients.push(
      await connect(gateway.url(), undefined, {
        headers: { Forwarded: "for=203.0.113.1", "X-Forwarded-For": "198.51.100.7" },
      }),
    );
    const refusal = await expectRefusal(gateway.url(), {
      headers: { Forwarded: "for=203.0.113.2", "X-Forwarded-For": "198.51.100.7" },
    });
    expect(refusal.status).toBe(429);
  });

  it("refuses to return the left-most hop of an all-trusted chain, so that rotating it escapes no limit", async () => {
    const gateway = await behindProxy(undefined, { maxConnectionsPerClient: 1 }, ["127.0.0.0/8"]);
    expect(await clientSeen(gateway, { "X-Forwarded-For": "127.0.0.9, 127.0.0.3" })).toBe("127.0.0.1");
    const refusal = await expectRefusal(gateway.url(), { headers: { "X-Forwarded-For": "127.0.0.5" } });
    expect(refusal.status).toBe(429);
  });

  it("reads only Forwarded when it is the chosen header, IPv6 in brackets with a port included", async () => {
    const gateway = await behindProxy("Forwarded");
    const client = await clientSeen(gateway, {
      Forwarded: 'for="[2001:db8::7]:4711";proto=https',
      "X-Forwarded-For": "198.51.100.66",
    });
    expect(client).toBe("2001:db8::7");
  });

  it("reads only X-Real-IP when it is the chosen header", async () => {
    const gateway = await behindProxy("X-Real-IP");
    const client = await clientSeen(gateway, {
      "X-Real-IP": "198.51.100.8",
      "X-Forwarded-For": "198.51.100.66",
      Forwarded: "for=198.51.100.67",
    });
    expect(client).toBe("198.51.100.8");
  });

  it("replaces a client-sent X-Forwarded-For when another header names the client, so that a backend reading it is not fooled", async () => {
    const gateway = await behindProxy("Forwarded");
    await clientSeen(gateway, { Forwarded: "for=198.51.100.9", "X-Forwarded-For": "198.51.100.66" });
    expect(backend!.requests.at(-1)!.headers["x-forwarded-for"]).toBe("198.51.100.9, 127.0.0.1");
  });

  it("extends the trusted proxy's X-Forwarded-For with the peer when it is the chosen header", async () => {
    const gateway = await behindProxy();
    await clientSeen(gateway, { "X-Forwarded-For": "198.51.100.7" });
    expect(backend!.requests.at(-1)!.headers["x-forwarded-for"]).toBe("198.51.100.7, 127.0.0.1");
  });
});
