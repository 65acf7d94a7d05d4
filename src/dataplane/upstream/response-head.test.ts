import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BackendHeadReader, answeredExtensions, type HeadScan } from "./response-head.js";

const CLEAN_101 =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/** The reader's verdict on `text` cut at `cuts`: the first that is not "more". */
function readInChunks(text: string, cuts: readonly number[], limit?: number): HeadScan {
  const reader = new BackendHeadReader(limit);
  const points = [...new Set(cuts)].filter((c) => c > 0 && c < text.length).sort((a, b) => a - b);
  let from = 0;
  for (const point of [...points, text.length]) {
    const scan = reader.push(Buffer.from(text.slice(from, point), "latin1"));
    if (scan.kind !== "more") return scan;
    from = point;
  }
  return { kind: "more" };
}

describe("BackendHeadReader", () => {
  it("reads a clean 101 the same however the bytes are cut, so that TCP segmentation cannot change a verdict", () => {
    const text = `${CLEAN_101}\x81\x02hi`;
    const whole = readInChunks(text, []);
    expect(whole.kind).toBe("upgraded");
    for (let cut = 1; cut < text.length; cut++) {
      const scan = readInChunks(text, [cut]);
      expect(scan.kind, `cut at ${cut}`).toBe("upgraded");
      if (scan.kind === "upgraded" && whole.kind === "upgraded") {
        expect(scan.head).toEqual(whole.head);
        // The bytes after the head that came with it; the others follow on the socket.
        expect(text.slice(CLEAN_101.length).startsWith(scan.rest.toString("latin1"))).toBe(true);
        const end = cut >= CLEAN_101.length ? cut : text.length;
        expect(scan.rest.length).toBe(end - CLEAN_101.length);
      }
    }
  });

  it("gives up on the first byte that rules the fast path out, so that Node answers a non-101 without waiting for more", () => {
    expect(new BackendHeadReader().push(Buffer.from("HTTP/1.1 4")).kind).toBe("replay");
    expect(new BackendHeadReader().push(Buffer.from("HTTP/1.1 101 OK\nUpgrade")).kind).toBe("replay");
    expect(new BackendHeadReader().push(Buffer.from("HTTP/1.1 10")).kind).toBe("more");
  });

  it("holds no more than its limit, so that a backend cannot grow gateway memory with an endless head", () => {
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 4096 }), fc.integer({ min: 1, max: 512 }), (limit, chunk) => {
        const reader = new BackendHeadReader(limit);
        let held = 0;
        let scan: HeadScan = { kind: "more" };
        const filler = Buffer.from(`HTTP/1.1 101 OK\r\nX: ${"a".repeat(chunk)}`);
        while (scan.kind === "more") {
          scan = reader.push(filler);
          held += filler.length;
        }
        expect(scan.kind).toBe("replay");
        expect(held).toBeLessThan(limit + filler.length);
      }),
    );
  });

  it("takes only 101s with both Upgrade and a Connection upgrade token, as Node's client does", () => {
    expect(readInChunks(CLEAN_101.replace("Upgrade: websocket\r\n", ""), []).kind).toBe("replay");
    expect(readInChunks(CLEAN_101.replace("Connection: Upgrade", "Connection: keep-alive"), []).kind).toBe(
      "replay",
    );
    expect(
      readInChunks(CLEAN_101.replace("Connection: Upgrade", "Connection: keep-alive, upgrade"), []).kind,
    ).toBe("upgraded");
  });
});

describe("answeredExtensions", () => {
  it("joins repeated Sec-WebSocket-Extensions as IncomingMessage.headers does, so the relay sees every negotiated extension", () => {
    const head = {
      rawHeaders: ["Sec-WebSocket-Extensions", "permessage-deflate", "sec-websocket-extensions", "x-other"],
    };
    expect(answeredExtensions(head)).toBe("permessage-deflate, x-other");
    expect(answeredExtensions({ rawHeaders: [] })).toBe("");
  });
});
