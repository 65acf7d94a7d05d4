/**
 * An HTTP/2 request the gateway answers itself (no route: 404) is never read; its stream
 * then closes with the request body "unfinished". That must not end the process — a
 * browser's favicon request was enough (found by the browser tier, test/browser).
 */
import type http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { selfSigned, tlsSecret } from "./helpers/certs.js";
import { h2Request, h2Session, startH2Gateway, type H2Gateway } from "./helpers/h2.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

let gw: H2Gateway | undefined;
let session: http2.ClientHttp2Session | undefined;

afterEach(async () => {
  session?.destroy();
  await gw?.close();
  gw = session = undefined;
});

describe("HTTP/2 requests the gateway refuses", () => {
  it("answers 404 to unrouted GETs and keeps serving, so that one browser's favicon request cannot end the process", async () => {
    const errors: unknown[] = [];
    const onError = (err: unknown): void => void errors.push(err);
    process.on("uncaughtException", onError);
    try {
      gw = await startH2Gateway();
      gw.apply([
        ...serviceWithEndpoints("apps", "echo", [{ port: 9 }]),
        route("apps", "chat", {
          hostnames: ["chat.example.com"],
          tls: { secretName: "chat-tls" },
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: "/chat" } }],
              backendRefs: [{ name: "echo", port: 80 }],
            },
          ],
        }),
        tlsSecret("apps", "chat-tls", selfSigned("chat.example.com")),
      ]);
      session = await h2Session(gw.port, "chat.example.com");
      for (let i = 0; i < 3; i++) {
        const answer = await h2Request(session, {
          ":authority": "chat.example.com",
          ":path": "/favicon.ico",
        });
        expect(answer.status).toBe(404);
      }
      // The streams have closed (their answers ended); a last request proves the listener is alive
      // after their close handlers ran.
      await new Promise<void>((resolve) => setImmediate(resolve));
      session.destroy();
      session = await h2Session(gw.port, "chat.example.com");
      expect(
        (await h2Request(session, { ":authority": "chat.example.com", ":path": "/nothing" })).status,
      ).toBe(404);
      expect(errors).toEqual([]);
    } finally {
      process.off("uncaughtException", onError);
    }
  });
});
