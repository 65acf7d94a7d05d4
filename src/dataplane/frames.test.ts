import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameScanner, Opcode, closeCodeOf, closeFrame, controlFrame, type FrameInfo } from "./frames.js";

interface GeneratedFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Serialises a frame as a client (masked) or a server (unmasked) would. */
function encode(frame: GeneratedFrame, masked: boolean, rsv1 = false): Buffer {
  const len = frame.payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  header[0] = (frame.fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | frame.opcode;
  header[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) header.writeUInt16BE(len, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (!masked) return Buffer.concat([header, frame.payload]);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  mask.copy(header, 2 + ext);
  const body = Buffer.from(frame.payload.map((b, i) => b ^ (mask[i & 3] as number)));
  return Buffer.concat([header, body]);
}

/** A well-formed message: one frame or several fragments, with control frames interleaved. */
const messageArb = fc
  .record({
    opcode: fc.constantFrom(Opcode.Text, Opcode.Binary),
    fragments: fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
    interleaved: fc.option(
      fc.record({
        opcode: fc.constantFrom(Opcode.Ping, Opcode.Pong),
        payload: fc.uint8Array({ maxLength: 125 }),
      }),
    ),
    big: fc.boolean(),
  })
  .map(({ opcode, fragments, interleaved, big }) => {
    const frames: GeneratedFrame[] = fragments.map((p, i) => ({
      fin: i === fragments.length - 1,
      opcode: i === 0 ? opcode : Opcode.Continuation,
      payload: Buffer.from(p),
    }));
    // Exercise the 16-bit and 64-bit length encodings too.
    if (big) frames[0]!.payload = Buffer.alloc(frames.length === 1 ? 70_000 : 200, 7);
    if (interleaved && frames.length > 1) {
      frames.splice(1, 0, {
        fin: true,
        opcode: interleaved.opcode,
        payload: Buffer.from(interleaved.payload),
      });
    }
    return frames;
  });

function splitAt(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buffer.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(buffer.subarray(last, p));
    last = p;
  }
  chunks.push(buffer.subarray(last));
  return chunks;
}

interface Seen {
  opcode: number;
  fin: boolean;
  payloadLength: number;
  control?: string;
  start: number;
  end: number;
}

function scanAll(chunks: Buffer[], fromClient: boolean): { frames: Seen[]; ok: boolean; error?: string } {
  const frames: Seen[] = [];
  let base = 0;
  let previousEnd = 0;
  const scanner = new FrameScanner(
    { fromClient, allowRsv1: false, allowRsv23: false },
    {
      header: () => undefined,
      end(f: Readonly<FrameInfo>, end: number) {
        // Frames are contiguous: each starts where the previous ended. When the
        // scanner knows the start within this chunk, it must agree.
        const start = f.start >= 0 ? base + f.start : previousEnd;
        if (start !== previousEnd) throw new Error(`frame start ${start} != previous end ${previousEnd}`);
        previousEnd = base + end;
        frames.push({
          opcode: f.opcode,
          fin: f.fin,
          payloadLength: f.payloadLength,
          ...(f.controlPayload ? { control: f.controlPayload.toString("hex") } : {}),
          start,
          end: base + end,
        });
      },
    },
  );
  for (const chunk of chunks) {
    if (!scanner.scan(chunk)) return { frames, ok: false, error: scanner.error as string };
    base += chunk.length;
  }
  return { frames, ok: true };
}

describe("FrameScanner", () => {
  it("sees the same frames for any chunking of the stream (property)", () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, fromClient, cuts) => {
          const frames = messages.flat();
          const encoded = frames.map((f) => encode(f, fromClient));
          const stream = Buffer.concat(encoded);
          const expected: Seen[] = [];
          let offset = 0;
          for (const [i, f] of frames.entries()) {
            const size = (encoded[i] as Buffer).length;
            expected.push({
              opcode: f.opcode,
              fin: f.fin,
              payloadLength: f.payload.length,
              ...(f.opcode >= 8 ? { control: f.payload.toString("hex") } : {}),
              start: offset,
              end: offset + size,
            });
            offset += size;
          }
          const result = scanAll(splitAt(stream, cuts), fromClient);
          expect(result.ok).toBe(true);
          expect(result.frames).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("shows data payloads, unmasked by the mask and position it reports, for any chunking, and no control payloads (property)", () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, fromClient, cuts) => {
          const frames = messages.flat();
          const stream = Buffer.concat(frames.map((f) => encode(f, fromClient)));
          const expected = Buffer.concat(frames.filter((f) => f.opcode < 8).map((f) => f.payload));
          const seen: number[] = [];
          const scanner = new FrameScanner(
            { fromClient, allowRsv1: false, allowRsv23: false, payloads: true },
            {
              header: () => undefined,
              end: () => undefined,
              payload(chunk, start, end, mask, position) {
                for (let i = start; i < end; i++) {
                  const key = (mask >>> (24 - 8 * ((position + i - start) & 3))) & 0xff;
                  seen.push((chunk[i] as number) ^ key);
                }
                return undefined;
              },
            },
          );
          for (const chunk of splitAt(stream, cuts)) expect(scanner.scan(chunk)).toBe(true);
          expect(Buffer.from(seen).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("counts every frame and message once per scan without a handler call per data frame, and reports control frames where they end, for any chunking (property)", () => {
    // The relay's fast path (no limit, no inflater): a missed boundary would count a
    // message twice or never, and a missed control frame would lose a Close code or a Pong.
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, fromClient, cuts) => {
          const frames = messages.flat();
          const encoded = frames.map((f) => encode(f, fromClient));
          const stream = Buffer.concat(encoded);
          const controls: { opcode: number; end: number }[] = [];
          let offset = 0;
          for (const [i, f] of frames.entries()) {
            offset += (encoded[i] as Buffer).length;
            if (f.opcode >= 8) controls.push({ opcode: f.opcode, end: offset });
          }
          const seen: { opcode: number; end: number }[] = [];
          let base = 0;
          const scanner = new FrameScanner(
            { fromClient, allowRsv1: false, allowRsv23: false, headers: false },
            {
              header: () => {
                throw new Error("header called without headers");
              },
              end: (f, end) => {
                if (f.opcode < 8) throw new Error("end of a data frame while dataEnds is off");
                seen.push({ opcode: f.opcode, end: base + end });
              },
            },
          );
          scanner.dataEnds = false;
          let started = 0;
          let ended = 0;
          for (const chunk of splitAt(stream, cuts)) {
            expect(scanner.scan(chunk)).toBe(true);
            started += scanner.framesStarted;
            ended += scanner.messagesEnded;
            base += chunk.length;
          }
          expect(started).toBe(frames.length);
          expect(ended).toBe(messages.length);
          expect(seen).toEqual(controls);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports data frames' ends again from the scan after dataEnds is turned on, so a frame waiting for a boundary is injected at the next one", () => {
    const frame = encode({ fin: true, opcode: Opcode.Binary, payload: Buffer.alloc(10) }, false);
    const ends: number[] = [];
    const scanner = new FrameScanner(
      { fromClient: false, allowRsv1: false, allowRsv23: false, headers: false },
      { header: () => undefined, end: (_f, end) => void ends.push(end) },
    );
    scanner.dataEnds = false;
    expect(scanner.scan(frame.subarray(0, 5))).toBe(true);
    scanner.dataEnds = true;
    expect(scanner.scan(Buffer.concat([frame.subarray(5), frame]))).toBe(true);
    expect(ends).toEqual([frame.length - 5, 2 * frame.length - 5]);
  });

  it("reads the close code of a masked Close frame split byte by byte", () => {
    const frame = closeFrame(4001, "bye", false);
    const chunks = [...frame].map((b) => Buffer.from([b]));
    const { frames, ok } = scanAll(chunks, true);
    expect(ok).toBe(true);
    expect(frames).toHaveLength(1);
    expect(closeCodeOf(Buffer.from(frames[0]!.control!, "hex"))).toBe(4001);
  });

  it.each([
    [
      "an unmasked frame from a client",
      encode({ fin: true, opcode: 1, payload: Buffer.from("x") }, false),
      true,
      /unmasked/,
    ],
    [
      "a masked frame from a server",
      encode({ fin: true, opcode: 1, payload: Buffer.from("x") }, true),
      false,
      /masked frame from the server/,
    ],
    [
      "a reserved opcode",
      encode({ fin: true, opcode: 3, payload: Buffer.alloc(0) }, false),
      false,
      /reserved data opcode/,
    ],
    [
      "a reserved control opcode",
      encode({ fin: true, opcode: 0xb, payload: Buffer.alloc(0) }, false),
      false,
      /reserved control/,
    ],
    [
      "a fragmented ping",
      encode({ fin: false, opcode: 9, payload: Buffer.alloc(0) }, false),
      false,
      /fragmented control/,
    ],
    [
      "a 126-byte ping",
      encode({ fin: true, opcode: 9, payload: Buffer.alloc(126) }, false),
      false,
      /over 125/,
    ],
    [
      "a continuation with no message",
      encode({ fin: true, opcode: 0, payload: Buffer.alloc(1) }, false),
      false,
      /continuation/,
    ],
    [
      "RSV1 without deflate",
      encode({ fin: true, opcode: 1, payload: Buffer.alloc(1) }, false, true),
      false,
      /RSV1/,
    ],
    [
      "a new message inside a fragmented one",
      Buffer.concat([
        encode({ fin: false, opcode: 1, payload: Buffer.alloc(1) }, false),
        encode({ fin: true, opcode: 2, payload: Buffer.alloc(1) }, false),
      ]),
      false,
      /inside a fragmented/,
    ],
    ["a length over 2^53", Buffer.from([0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), false, /2\^53/],
  ])("rejects %s", (_name, bytes, fromClient, message) => {
    const result = scanAll([bytes], fromClient);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(message);
    // The same without a handler call per frame (the relay's path on a route without limits).
    const quiet = new FrameScanner(
      { fromClient, allowRsv1: false, allowRsv23: false, headers: false },
      { header: () => undefined, end: () => undefined },
    );
    quiet.dataEnds = false;
    expect(quiet.scan(bytes)).toBe(false);
    expect(quiet.error).toMatch(message);
  });

  it("counts message bytes across fragments for the size limit", () => {
    const sizes: number[] = [];
    const scanner = new FrameScanner(
      { fromClient: false, allowRsv1: false, allowRsv23: false },
      {
        header: (f, messageBytes) => {
          if (f.opcode < 8) sizes.push(messageBytes);
          return messageBytes > 250 ? "message too big" : undefined;
        },
        end: () => {},
      },
    );
    const stream = Buffer.concat([
      encode({ fin: false, opcode: 1, payload: Buffer.alloc(100) }, false),
      encode({ fin: true, opcode: 9, payload: Buffer.alloc(5) }, false),
      encode({ fin: false, opcode: 0, payload: Buffer.alloc(100) }, false),
      encode({ fin: true, opcode: 0, payload: Buffer.alloc(100) }, false),
    ]);
    expect(scanner.scan(stream)).toBe(false);
    expect(sizes).toEqual([100, 200, 300]);
    expect(scanner.error).toBe("message too big");
  });

  it("builds control frames that it scans back", () => {
    for (const toClient of [true, false]) {
      const ping = controlFrame(Opcode.Ping, Buffer.from("keepalive"), toClient);
      const { frames } = scanAll([ping], !toClient);
      expect(frames[0]).toMatchObject({
        opcode: Opcode.Ping,
        control: Buffer.from("keepalive").toString("hex"),
      });
    }
  });
});
