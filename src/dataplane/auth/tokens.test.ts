import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import type { TokenSource } from "../../routing/auth-contract.js";
import {
  BEARER_PROTOCOL_PREFIX,
  bearerFromProtocols,
  cookieValue,
  findToken,
  queryValue,
  withoutBearerProtocol,
} from "./tokens.js";

function request(url: string, headers: Record<string, string>): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}

describe("token sources", () => {
  it("finds a cookie among others, with or without quotes", () => {
    expect(cookieValue("a=1; session=abc.def; b=2", "session")).toBe("abc.def");
    expect(cookieValue('session="abc"', "session")).toBe("abc");
    expect(cookieValue("xsession=abc", "session")).toBeUndefined();
    expect(cookieValue(undefined, "session")).toBeUndefined();
  });

  it("finds a query parameter, ignoring a fragment", () => {
    expect(queryValue("/ws?room=1&access_token=t.o.k#frag", "access_token")).toBe("t.o.k");
    expect(queryValue("/ws", "access_token")).toBeUndefined();
  });

  it("decodes the Kubernetes bearer subprotocol, and accepts a raw compact JWS", () => {
    const encoded = Buffer.from("a.b.c").toString("base64url");
    expect(bearerFromProtocols(`chat, ${BEARER_PROTOCOL_PREFIX}${encoded}`)).toBe("a.b.c");
    expect(bearerFromProtocols(`${BEARER_PROTOCOL_PREFIX}x.y.z`)).toBe("x.y.z");
    expect(bearerFromProtocols(`${BEARER_PROTOCOL_PREFIX}n/t+ok`)).toBe("");
    expect(bearerFromProtocols("chat")).toBeUndefined();
  });

  it("removes every bearer entry from Sec-WebSocket-Protocol, or the header when nothing is left", () => {
    expect(withoutBearerProtocol(`v2, ${BEARER_PROTOCOL_PREFIX}abc ,v1`)).toBe("v2, v1");
    expect(withoutBearerProtocol(`${BEARER_PROTOCOL_PREFIX}abc`)).toBeUndefined();
  });

  it("takes the first source present, in order", () => {
    const sources: TokenSource[] = [
      { type: "header", name: "authorization", prefix: "Bearer " },
      { type: "cookie", name: "session" },
      { type: "query", name: "token" },
      { type: "subprotocol" },
    ];
    expect(findToken(request("/?token=q", { cookie: "session=c" }), sources)).toEqual({
      token: "c",
      source: "cookie",
    });
    expect(findToken(request("/?token=q", { authorization: "bearer  h " }), sources)).toEqual({
      token: "h",
      source: "header",
    });
    // A header without the prefix is no token: the next source is tried.
    expect(findToken(request("/?token=q", { authorization: "Basic x" }), sources)).toEqual({
      token: "q",
      source: "query",
    });
    expect(
      findToken(request("/", { "sec-websocket-protocol": `${BEARER_PROTOCOL_PREFIX}cw` }), sources),
    ).toEqual({ token: "s", source: "subprotocol" });
    expect(findToken(request("/", {}), sources)).toBeUndefined();
  });
});
