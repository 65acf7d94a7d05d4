import { describe, expect, it } from "vitest";
import { checkOrigin } from "./origin.js";

const policy = {
  allow: ["https://chat.example.com", "https://*.example.com", "http://localhost:3000"],
  allowMissing: false,
};

describe("checkOrigin", () => {
  it.each([
    ["https://chat.example.com", true],
    ["https://CHAT.example.com", true],
    ["https://chat.example.com:443", true],
    ["https://a.example.com", true],
    ["https://a.b.example.com", true],
    ["https://example.com", false],
    ["https://evilexample.com", false],
    ["https://example.com.evil.io", false],
    ["http://chat.example.com", false],
    ["https://a.example.com:8443", false],
    ["http://localhost:3000", true],
    ["http://localhost:3001", false],
    ["http://localhost", false],
    ["null", false],
    ["not a url", false],
    ["https://chat.example.com/path", false],
  ])("%s → %s", (origin, allowed) => {
    expect(checkOrigin(policy, origin).ok).toBe(allowed);
  });

  it("refuses a missing Origin unless allowMissing", () => {
    expect(checkOrigin(policy, undefined).ok).toBe(false);
    expect(checkOrigin({ ...policy, allowMissing: true }, undefined).ok).toBe(true);
    expect(checkOrigin({ ...policy, allowMissing: true }, "https://evil.io").ok).toBe(false);
  });
});
