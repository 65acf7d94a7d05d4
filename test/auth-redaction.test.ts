/**
 * Tokens never reach the logs: every token source is exercised through real
 * handshakes — refused and admitted, then closed — with pino writing to a stream the
 * test reads; and /debug/config never shows key material.
 */
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { tableToJSON } from "../src/cli/serve.js";
import { BEARER_PROTOCOL_PREFIX } from "../src/dataplane/auth/tokens.js";
import { logDataplaneEvents } from "../src/observability/log-events.js";
import { createLogger, type Logger } from "../src/observability/logger.js";
import {
  httpGet,
  jwksOf,
  jwtRoute,
  keySecret,
  mint,
  now,
  signingKey,
  startHttpServer,
  type TestServer,
} from "./helpers/auth.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import {
  closeClient,
  connect,
  expectRefusal,
  gatewayClosed,
  startTestGateway,
  type TestGateway,
} from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";

let gw: TestGateway | undefined;
let backend: EchoBackend | undefined;
let auth: TestServer | undefined;
let lines: string[] = [];
let logger: Logger;
let stopLogging: () => void = () => {};

beforeEach(() => {
  lines = [];
  logger = createLogger(
    "trace",
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    }),
  );
  stopLogging = logDataplaneEvents(logger);
});

afterEach(async () => {
  stopLogging();
  await gw?.close();
  await backend?.close();
  await auth?.close();
  gw = backend = auth = undefined;
});

const TOKEN_FROM = [
  { header: "Authorization", prefix: "Bearer " },
  { cookie: "session" },
  { query: "access_token" },
  { subprotocol: {} },
];

function logText(): string {
  return lines.join("");
}

describe("redaction", () => {
  it("logs refusals and closes of every token source without the token", async () => {
    const key = await signingKey("HS256", "k1");
    gw = await startTestGateway();
    backend = await startEchoBackend();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      keySecret("apps", "jwt-keys", "keys", jwksOf(key)),
      jwtRoute({ keys: { secretRef: { name: "jwt-keys", key: "keys" } }, tokenFrom: TOKEN_FROM }),
    ]);
    const secrets: string[] = [key.secret!.toString("base64url"), key.secret!.toString("base64")];

    const expired = await mint(key, { exp: now() - 3600 });
    const valid = await mint(key);
    const wrongAudience = await mint(key, { aud: "other" });
    secrets.push(expired, valid, wrongAudience, "cookie-secret-value", "query-secret-value");
    const asProtocol = (token: string): string =>
      `${BEARER_PROTOCOL_PREFIX}${Buffer.from(token).toString("base64url")}`;
    secrets.push(asProtocol(expired), asProtocol(valid));

    // Refused, from every source.
    await expectRefusal(gw.url(), { headers: { Authorization: `Bearer ${expired}` } });
    await expectRefusal(gw.url(), { headers: { Cookie: `session=cookie-secret-value` } });
    await expectRefusal(gw.url(`/ws?access_token=query-secret-value&room=1`));
    await expectRefusal(gw.url(`/ws?access_token=${wrongAudience}`));
    await expectRefusal(gw.url(), { headers: { "Sec-WebSocket-Protocol": asProtocol(expired) } });
    await httpGet(gw.port, `/page?access_token=${expired}`, { Cookie: `session=${expired}` });

    // Admitted, from every source, then closed.
    const closed = gatewayClosed(4);
    const admitted: WebSocket[] = [
      await connect(gw.url(), undefined, { headers: { Authorization: `Bearer ${valid}` } }),
      await connect(gw.url(), undefined, { headers: { Cookie: `session=${valid}` } }),
      await connect(gw.url(`/ws?access_token=${valid}`)),
      await connect(gw.url(), ["chat", asProtocol(valid)]),
    ];
    for (const ws of admitted) await closeClient(ws);
    await closed;

    const text = logText();
    expect(text).toContain('"event":"handshake_rejected"');
    expect(text.match(/"event":"handshake_rejected"/g)).toHaveLength(5);
    expect(text.match(/"event":"connection_closed"/g)).toHaveLength(4);
    expect(text).toContain('"path":"/ws"');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toContain("access_token");
  });

  it("logs forward-auth refusals without the credentials sent to the auth service", async () => {
    gw = await startTestGateway();
    backend = await startEchoBackend();
    auth = await startHttpServer((_req, res) => res.writeHead(401).end("no"), "/verify");
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      simpleRoute("apps", "echo", "echo", {
        auth: { forwardAuth: { url: auth.url, requestHeaders: ["Cookie", "Authorization"] } },
      }),
    ]);
    await expectRefusal(gw.url("/ws?sig=query-secret"), {
      headers: { Cookie: "sid=cookie-secret", Authorization: "Basic YWxhZGRpbjpvcGVuc2VzYW1l" },
    });
    const text = logText();
    expect(text).toContain('"reason":"unauthorized"');
    for (const secret of ["query-secret", "cookie-secret", "YWxhZGRpbjpvcGVuc2VzYW1l"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("redacts credentials even if headers are logged by mistake (the second line of defence)", () => {
    logger.info(
      {
        headers: {
          authorization: "Bearer hdr-secret",
          cookie: "c=cookie-secret",
          "sec-websocket-protocol": "x, proto-secret",
        },
        req: {
          headers: { authorization: "Bearer req-secret", "sec-websocket-protocol": "req-proto-secret" },
        },
      },
      "oops",
    );
    const text = logText();
    expect(text).toContain("[redacted]");
    for (const secret of ["hdr-secret", "cookie-secret", "proto-secret", "req-secret", "req-proto-secret"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("never shows key material in /debug/config", async () => {
    const hmac = await signingKey("HS256");
    const rsa = await signingKey("RS256", "r1");
    gw = await startTestGateway();
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: 1 }]),
      keySecret("apps", "jwt-keys", "keys", hmac.secret!),
      keySecret("apps", "rsa-keys", "keys", jwksOf(rsa)),
      jwtRoute({ keys: { secretRef: { name: "jwt-keys", key: "keys", format: "HMAC" } } }),
      simpleRoute(
        "apps",
        "rsa",
        "echo",
        { auth: { jwt: { keys: { secretRef: { name: "rsa-keys", key: "keys" } } } } },
        "/rsa",
      ),
    ]);
    const json = JSON.stringify(tableToJSON(gw.holder.current));
    expect(json).toContain('"format":"hmac"');
    expect(json).toContain('"kid":"r1"');
    for (const secret of [hmac.secret!.toString("base64url"), hmac.secret!.toString("base64"), rsa.jwk.n!]) {
      expect(json).not.toContain(secret);
    }
  });
});
