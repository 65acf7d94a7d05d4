import { describe, expect, it } from "vitest";
import type { WebSocketRoute } from "../api/route.js";
import { ANY_HOST, HostnameOwnership, hostnameKeys } from "./hostname-ownership.js";

function route(namespace: string, name: string, hostnames: string[]): WebSocketRoute {
  return { metadata: { namespace, name }, spec: { hostnames, rules: [] } } as unknown as WebSocketRoute;
}

describe("HostnameOwnership", () => {
  const owner = route("apps", "chat", ["chat.example.com", "*.example.com"]);
  const sameNamespace = route("apps", "api", ["CHAT.example.com"]);
  const intruder = route("intruder", "steal", ["other.example.com", "Chat.Example.com"]);
  const ownership = new HostnameOwnership([owner, sameNamespace, intruder]);

  it("gives a hostname to the namespace of the oldest route claiming it", () => {
    expect(ownership.ownerOf("chat.example.com")).toEqual({ namespace: "apps", route: "apps/chat" });
    expect(ownership.ownerOf("other.example.com")).toEqual({
      namespace: "intruder",
      route: "intruder/steal",
    });
  });

  it("refuses another namespace's claim whatever the hostname's case, so that case cannot launder it", () => {
    expect(ownership.foreignClaim(intruder)).toEqual({
      hostname: "chat.example.com",
      owner: { namespace: "apps", route: "apps/chat" },
    });
    expect(ownership.foreignClaim(sameNamespace)).toBeUndefined();
  });

  it("keeps a wildcard and the names under it apart", () => {
    const under = route("team-b", "b", ["b.example.com"]);
    expect(new HostnameOwnership([owner, under]).foreignClaim(under)).toBeUndefined();
  });

  it("owns 'any host' like a hostname", () => {
    const first = route("apps", "all", []);
    const second = route("intruder", "all", []);
    expect(hostnameKeys(first)).toEqual([ANY_HOST]);
    expect(new HostnameOwnership([first, second]).foreignClaim(second)?.owner.namespace).toBe("apps");
  });
});
