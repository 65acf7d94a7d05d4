import { describe, expect, it } from "vitest";
import { parseObject } from "./parse.js";
import type { WebSocketRoute } from "./route.js";
import { jwtKeySecret, secretsNamedBy } from "./secret-refs.js";

function route(spec: Record<string, unknown>): WebSocketRoute {
  const parsed = parseObject({
    apiVersion: "wsgate.io/v1alpha1",
    kind: "WebSocketRoute",
    metadata: { name: "chat", namespace: "apps" },
    spec: { rules: [{ backendRefs: [{ name: "chat", port: 80 }] }], ...spec },
  });
  if (parsed.outcome !== "ok") throw new Error(JSON.stringify(parsed));
  return parsed.object as WebSocketRoute;
}

describe("secretsNamedBy", () => {
  const jwt = { jwt: { keys: { secretRef: { name: "keys", key: "jwks.json" } } } };

  it("names the certificate and the JWT key Secrets in the route's own namespace, so that the sources keep exactly those", () => {
    expect(secretsNamedBy(route({ tls: { secretName: "chat-tls" }, auth: jwt }))).toEqual([
      "apps/chat-tls",
      "apps/keys",
    ]);
    expect(jwtKeySecret(route({ auth: jwt }))).toBe("apps/keys");
  });

  it("names nothing for a jwksUri or forward auth, and a Secret used twice once", () => {
    expect(
      secretsNamedBy(route({ auth: { jwt: { keys: { jwksUri: "https://issuer.test/jwks" } } } })),
    ).toEqual([]);
    expect(secretsNamedBy(route({ auth: { forwardAuth: { url: "http://auth/verify" } } }))).toEqual([]);
    expect(
      secretsNamedBy(
        route({
          tls: { secretName: "both" },
          auth: { jwt: { keys: { secretRef: { name: "both", key: "k" } } } },
        }),
      ),
    ).toEqual(["apps/both"]);
  });
});
