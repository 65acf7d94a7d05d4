import http from "node:http";
import { Duplex } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { upgradeRequestHead } from "./request-head.js";

/** The bytes Node's own client writes for `GET path` with flat `headers`, read off a stream. */
function nodeRequestHead(path: string, headers: string[]): Promise<string> {
  const written: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk);
      done();
    },
  });
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: "GET",
      path,
      headers,
      setHost: false,
      createConnection: () => socket,
    });
    req.on("error", reject);
    req.on("finish", () => resolve(Buffer.concat(written).toString("latin1")));
    req.end();
  });
}

const tokenChar = fc.constantFrom(..."abcXYZ019-_!#$%&'*+.^`|~");
const name = fc.oneof(
  fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }),
  fc.constantFrom("Connection", "connection", "Transfer-Encoding", "Upgrade", "Host", "Sec-WebSocket-Key"),
);
// Printable latin1 (never CR or LF), and the values Node's client acts on.
const value = fc.oneof(
  fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((c) => c !== 0x7f)
      .map((c) => String.fromCharCode(c)),
    maxLength: 20,
  }),
  fc.constantFrom("Upgrade", "chunked", "gzip, chunked", "keep-alive", "close"),
);

describe("upgradeRequestHead", () => {
  it("writes byte for byte the head Node's client writes for the same path and headers, so a backend cannot tell the hand-built head from Node's", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/", "/chat?room=1", "/a/b%20c", "/ü"),
        fc.array(fc.tuple(name, value), { maxLength: 12 }),
        async (path, pairs) => {
          const flat = pairs.flat();
          expect(upgradeRequestHead(path, flat)).toBe(await nodeRequestHead(path, flat));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a header Node's client refuses, with Node's own error, so nothing malformed is sent upstream", () => {
    expect(() => upgradeRequestHead("/", ["Bad Name", "x"])).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_HTTP_TOKEN" }),
    );
    expect(() => upgradeRequestHead("/", ["X-Ok", "a\r\nInjected: 1"])).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_CHAR" }),
    );
    expect(() => upgradeRequestHead("/a b", [])).toThrow(
      expect.objectContaining({ code: "ERR_UNESCAPED_CHARACTERS" }),
    );
  });
});
