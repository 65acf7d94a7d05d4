/**
 * Identity headers cannot be forged: a header some route fills from auth (a JWT claim,
 * a forward-auth answer) is removed from client requests on every route of the gateway,
 * with auth or without, on both paths — and `X_User_Id`, which many servers read as
 * `X-User-Id`, is dropped unless `--underscores-in-headers` says otherwise.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningGateway } from "../src/cli/serve.js";
import { AUDIENCE, ISSUER, jwksOf, keySecret, mint, signingKey, type SigningKey } from "./helpers/auth.js";
import { startTestGateway, type TestGateway } from "./helpers/gateway.js";
import { serviceWithEndpoints, simpleRoute } from "./helpers/objects.js";
import { getRequest, rawRequest, upgradeRequest } from "./helpers/raw-http.js";
import { startRecordingBackend, type RecordingBackend } from "./helpers/recording-backend.js";
import { manifestDir, routeYaml, serviceYaml, startStandalone } from "./helpers/standalone.js";

const FORGED = ["X-User-Id: admin", "x-tenant: root", "X_User_Id: admin", "X-Groups: wheel", "X_Trace: 1"];

describe("identity headers", () => {
  let gw: TestGateway;
  let backend: RecordingBackend;
  let key: SigningKey;

  beforeEach(async () => {
    backend = await startRecordingBackend();
    key = await signingKey("ES256");
  });

  afterEach(async () => {
    await gw.close();
    await backend.close();
  });

  async function start(underscoresInHeaders: boolean): Promise<void> {
    gw = await startTestGateway({ underscoresInHeaders });
    gw.apply([
      ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
      keySecret("apps", "keys", "jwks.json", jwksOf(key)),
      // The public route: no auth at all.
      simpleRoute("apps", "public", "echo"),
      // Fills X-User-Id from a claim.
      simpleRoute(
        "apps",
        "api",
        "echo",
        {
          auth: {
            jwt: {
              issuer: ISSUER,
              audiences: [AUDIENCE],
              keys: { secretRef: { name: "keys", key: "jwks.json" } },
              claimsToHeaders: { sub: "X-User-Id" },
            },
          },
        },
        "/api",
      ),
      // Fills X-Tenant from an auth service; it never answers (the route is never used here).
      simpleRoute(
        "apps",
        "admin",
        "echo",
        { auth: { forwardAuth: { url: "http://127.0.0.1:9/verify", responseHeaders: ["X-Tenant"] } } },
        "/admin",
      ),
    ]);
  }

  it("are the union of every route's claimsToHeaders and forward-auth responseHeaders, lower case", async () => {
    await start(false);
    expect([...gw.holder.current.identityHeaders].sort()).toEqual(["x-tenant", "x-user-id"]);
  });

  for (const [label, send, ok] of [
    ["plain HTTP", getRequest, 200],
    ["upgrade", upgradeRequest, 101],
  ] as const) {
    it(`${label}: a route without auth refuses to carry a client's X-User-Id so that it cannot pass as one the gateway vouched for`, async () => {
      await start(false);
      expect((await rawRequest(gw.port, send("/public", "a", FORGED))).status).toBe(ok);
      const { headers } = backend.received[0]!;
      expect(headers["x-user-id"]).toBeUndefined();
      expect(headers["x-tenant"]).toBeUndefined();
      expect(Object.keys(headers).filter((h) => h.includes("_"))).toEqual([]);
      // Headers nobody fills from auth pass.
      expect(headers["x-groups"]).toBe("wheel");
    });

    it(`${label}: the auth route replaces the forged value with the claim`, async () => {
      await start(false);
      const token = await mint(key, { sub: "alice" });
      const request = send("/api/x", "a", [...FORGED, `Authorization: Bearer ${token}`]);
      expect((await rawRequest(gw.port, request)).status).toBe(ok);
      const { rawHeaders } = backend.received[0]!;
      const userIds = rawHeaders.flatMap((h, i) =>
        i % 2 === 0 && h.toLowerCase() === "x-user-id" ? [rawHeaders[i + 1]] : [],
      );
      expect(userIds).toEqual(["alice"]);
    });

    it(`${label}: --underscores-in-headers keeps names with _ (identity headers still go)`, async () => {
      await start(true);
      expect((await rawRequest(gw.port, send("/public", "a", FORGED))).status).toBe(ok);
      const { headers } = backend.received[0]!;
      expect(headers["x_trace"]).toBe("1");
      expect(headers["x_user_id"]).toBe("admin");
      expect(headers["x-user-id"]).toBeUndefined();
    });
  }
});

describe("wsgate serve --underscores-in-headers", () => {
  let running: RunningGateway | undefined;
  let backend: RecordingBackend | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await running?.stop(0);
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [flags, kept] of [
    [[], false],
    [["--underscores-in-headers"], true],
  ] as const) {
    it(`${flags.length ? "keeps" : "drops"} X_Trace with flags [${flags.join(" ")}]`, async () => {
      backend = await startRecordingBackend();
      dir = manifestDir("underscores");
      writeFileSync(
        join(dir, "r.yaml"),
        `${serviceYaml("echo", backend.port)}---\n${routeYaml("echo", "/")}`,
      );
      running = await startStandalone(dir, flags);
      expect((await rawRequest(running.httpAddress.port, getRequest("/", "a", ["X_Trace: 1"]))).status).toBe(
        200,
      );
      expect(backend.received[0]!.headers["x_trace"]).toBe(kept ? "1" : undefined);
    });
  }
});
