/**
 * HTTP/2 → HTTP/1.1 downgrade attacks: a client that writes frames by hand cannot make
 * the HTTP/1.1 request sent to a backend say something else than what was routed — no
 * CR/LF smuggled in a field value, name or :path, no connection-specific field, no body
 * longer than its content-length. nghttp2 refuses some (RST_STREAM or GOAWAY
 * PROTOCOL_ERROR/INTERNAL_ERROR) and drops invalid fields from others; either way the
 * backend never sees an injected field or a smuggled request.
 */
import type http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { selfSigned, tlsSecret } from "./helpers/certs.js";
import { h2Request, h2Session, startH2Gateway, type H2Gateway } from "./helpers/h2.js";
import { Flag, FrameType, frame, getFields, hpack, rawH2, type RawH2 } from "./helpers/h2-frames.js";
import { route, serviceWithEndpoints } from "./helpers/objects.js";

const HOST = "chat.example.com";
let backend: EchoBackend;
let gw: H2Gateway;
const seen: http.IncomingHttpHeaders[] = [];
const urls: string[] = [];
const open: RawH2[] = [];

beforeAll(async () => {
  backend = await startEchoBackend();
  (backend.server as unknown as { _server: http.Server })._server.on(
    "request",
    (req: http.IncomingMessage) => {
      seen.push(req.headers);
      urls.push(req.url ?? "");
    },
  );
  gw = await startH2Gateway();
  gw.apply([
    ...serviceWithEndpoints("apps", "echo", [{ port: backend.port }]),
    route("apps", "chat", {
      hostnames: [HOST],
      tls: { secretName: "chat-tls" },
      rules: [{ backendRefs: [{ name: "echo", port: 80 }] }],
    }),
    tlsSecret("apps", "chat-tls", selfSigned(HOST)),
  ]);
});

afterEach(() => {
  for (const c of open.splice(0)) c.socket.destroy();
});

afterAll(async () => {
  await gw.close();
  await backend.close();
});

/** Sends one request of hand-encoded `fields` (and `body`) on a fresh connection; resolves with the RST_STREAM or GOAWAY code, or "answered". */
async function attempt(fields: [string, string][], body?: Buffer): Promise<string> {
  const c = await rawH2(gw.port, HOST);
  open.push(c);
  const headersFlags = Flag.END_HEADERS | (body === undefined ? Flag.END_STREAM : 0);
  c.socket.write(frame(FrameType.HEADERS, headersFlags, 1, hpack(fields)));
  if (body !== undefined) c.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1, body));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rst = c.received.find((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    if (rst) return `RST ${rst.payload.readUInt32BE(0)}`;
    const goaway = c.received.find((f) => f.type === FrameType.GOAWAY);
    if (goaway) return `GOAWAY ${goaway.payload.readUInt32BE(4)}`;
    if (c.received.some((f) => f.type === FrameType.HEADERS && f.streamId === 1)) return "answered";
    if (Date.now() > deadline) return "nothing";
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("downgrade to HTTP/1.1", () => {
  it.each<[string, [string, string][], Buffer | undefined]>([
    ["CR LF in a field value", [...getFields(HOST), ["x-a", "1\r\nx-injected: yes"]], undefined],
    ["LF in a field value", [...getFields(HOST), ["x-a", "1\nx-injected: yes"]], undefined],
    ["CR LF in :path", getFields(HOST, "/ HTTP/1.1\r\nx-injected: yes\r\nx: /"), undefined],
    ["a colon in a field name", [...getFields(HOST), ["x-injected:yes", "1"]], undefined],
    ["Transfer-Encoding", [...getFields(HOST), ["transfer-encoding", "chunked"]], undefined],
    ["Connection", [...getFields(HOST), ["connection", "x-injected"]], undefined],
    ["an upper-case field name", [...getFields(HOST), ["X-Injected", "yes"]], undefined],
    [
      "a body longer than its content-length",
      [[":method", "POST"], ...getFields(HOST).slice(1), ["content-length", "1"]],
      Buffer.from("0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: chat.example.com\r\n\r\n"),
    ],
  ])("never lets %s reach a backend", async (_name, fields, body) => {
    const outcome = await attempt(fields, body);
    // Refused (RST_STREAM, GOAWAY), or served without the invalid field.
    expect(outcome).not.toBe("nothing");
    expect(seen.some((h) => h["x-injected"] !== undefined || h["transfer-encoding"] !== undefined)).toBe(
      false,
    );
    expect(urls.some((u) => u.includes("smuggled") || u.includes("HTTP/1.1"))).toBe(false);
  });

  it("serves the same request once it is well-formed (the refusals are about the malformation)", async () => {
    const s = await h2Session(gw.port, HOST);
    try {
      const answer = await h2Request(s, { ":authority": HOST, ":path": "/ok", "x-a": "1" });
      expect(answer.status).toBe(200);
      expect(seen.at(-1)?.["x-a"]).toBe("1");
    } finally {
      s.destroy();
    }
  });
});
