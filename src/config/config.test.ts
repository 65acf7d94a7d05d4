import { describe, expect, it } from "vitest";
import { ConfigError, parseListen, parseServeConfig } from "./config.js";

describe("parseListen", () => {
  it.each([
    ["0.0.0.0:8080", { host: "0.0.0.0", port: 8080 }],
    [":9090", { host: "0.0.0.0", port: 9090 }],
    ["[::1]:8443", { host: "::1", port: 8443 }],
    ["localhost:0", { host: "localhost", port: 0 }],
  ])("%s", (text, expected) => expect(parseListen(text)).toEqual(expected));

  it.each(["8080", "host:", "host:70000", "[::1]"])("rejects %s", (text) => {
    expect(() => parseListen(text)).toThrow(/HOST:PORT/);
  });
});

describe("parseServeConfig", () => {
  it("applies defaults", () => {
    const config = parseServeConfig(["--manifests", "/m"], {});
    expect(config).toMatchObject({
      manifests: "/m",
      httpListen: { host: "0.0.0.0", port: 8080 },
      adminListen: { host: "0.0.0.0", port: 9090 },
      ingressClass: "wsgate",
      logLevel: "info",
      trustedProxies: [],
      proxyProtocol: false,
      shutdownDrain: 30_000,
      headerTimeout: 10_000,
      clientAddressHeader: "X-Forwarded-For",
      underscoresInHeaders: false,
      allowCrossNamespaceHostnames: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads WSGATE_* variables, and flags win over them", () => {
    const config = parseServeConfig(["--manifests", "/m", "--http-listen", ":1000"], {
      WSGATE_HTTP_LISTEN: ":2000",
      WSGATE_ADMIN_LISTEN: ":3000",
      WSGATE_TRUSTED_PROXIES: "10.0.0.0/8, 192.168.0.1",
      WSGATE_PROXY_PROTOCOL: "true",
      WSGATE_SHUTDOWN_DRAIN: "1m30s",
    });
    expect(config.httpListen.port).toBe(1000);
    expect(config.adminListen.port).toBe(3000);
    expect(config.trustedProxies).toEqual(["10.0.0.0/8", "192.168.0.1"]);
    expect(config.proxyProtocol).toBe(true);
    expect(config.shutdownDrain).toBe(90_000);
  });

  it("reads the edge flags: header timeout, client address header, underscores, cross-namespace hostnames", () => {
    const config = parseServeConfig(
      [
        "--manifests",
        "/m",
        "--header-timeout",
        "3s",
        "--client-address-header",
        "Forwarded",
        "--underscores-in-headers",
        "--allow-cross-namespace-hostnames",
      ],
      {},
    );
    expect(config).toMatchObject({
      headerTimeout: 3_000,
      clientAddressHeader: "Forwarded",
      underscoresInHeaders: true,
      allowCrossNamespaceHostnames: true,
    });
    expect(() => parseServeConfig(["--manifests", "/m", "--client-address-header", "X-Client"], {})).toThrow(
      /--client-address-header/,
    );
    expect(() => parseServeConfig(["--manifests", "/m", "--header-timeout", "0s"], {})).toThrow(
      /--header-timeout: must be at least 1s/,
    );
  });

  it("takes boolean flags without a value", () => {
    expect(parseServeConfig(["--manifests", "/m", "--proxy-protocol"], {}).proxyProtocol).toBe(true);
  });

  it("names the flag in errors", () => {
    expect(() => parseServeConfig(["--manifests", "/m", "--log-level", "loud"], {})).toThrow(/--log-level/);
    expect(() => parseServeConfig(["--manifests", "/m", "--shutdown-drain", "soon"], {})).toThrow(
      /--shutdown-drain/,
    );
    expect(() => parseServeConfig(["--manifests", "/m", "--bogus"], {})).toThrow(ConfigError);
  });
});
