import zlib from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameScanner, type FrameHandler } from "./frames.js";
import { MessageInflater, compressedBound, deflateParameters } from "./inflate.js";

/** Runs frames through a masking client scanner feeding an inflater, in chunks of the given sizes. */
function measure(frames: Buffer, splits: readonly number[], inflater: MessageInflater): string[] {
  const violations: string[] = [];
  const handler: FrameHandler = {
    header(frame) {
      if (frame.opcode === 1 || frame.opcode === 2) inflater.start(frame.rsv1);
      return undefined;
    },
    end(frame) {
      if (frame.fin && frame.opcode < 8) inflater.finish();
    },
    payload(chunk, start, end, mask, position) {
      const v = inflater.write(chunk, start, end, mask, position);
      if (v) violations.push(`${v.code}`);
      return v?.reason;
    },
  };
  const scanner = new FrameScanner(
    { fromClient: true, allowRsv1: true, allowRsv23: false, payloads: true },
    handler,
  );
  let at = 0;
  for (const size of [...splits, frames.length]) {
    if (at >= frames.length) break;
    const next = Math.min(frames.length, at + Math.max(1, size));
    if (!scanner.scan(frames.subarray(at, next))) break;
    at = next;
  }
  return violations;
}

function masked(payload: Buffer, b0: number, key: number): Buffer {
  const n = payload.length;
  const len = n < 126 ? [n] : [126, n >> 8, n & 0xff];
  const mask = Buffer.alloc(4);
  mask.writeUInt32BE(key >>> 0);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)));
  return Buffer.concat([Buffer.from([b0, 0x80 | (len[0] as number), ...len.slice(1)]), mask, body]);
}

/** One deflate stream over the messages (context takeover), each sync-flushed with the tail stripped. */
function deflateMessages(messages: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let history = Buffer.alloc(0);
  for (const m of messages) {
    // Same bytes as a shared stream: the previous 32 KiB of plaintext are the dictionary.
    const dictionary = history.subarray(Math.max(0, history.length - 32 * 1024));
    const c = zlib.deflateRawSync(m, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(dictionary.length > 0 ? { dictionary } : {}),
    });
    out.push(c.subarray(0, c.length - 4));
    history = Buffer.concat([history, m]);
  }
  return out;
}

describe("MessageInflater", () => {
  it("measures every message exactly, for any chunking and mask, across a shared context", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
          { minLength: 1, maxLength: 5 },
        ),
        fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 40 }),
        fc.integer(),
        (plain, splits, key) => {
          // Compressible too: repeat each message's own bytes.
          const messages = plain.map((m) => Buffer.concat([m, m, m]));
          const compressed = deflateMessages(messages);
          const frames = Buffer.concat(compressed.map((c) => masked(c, 0xc2, key)));
          const longest = Math.max(...messages.map((m) => m.length));
          // At the longest message's size every message passes; one byte less, one fails.
          expect(
            measure(frames, splits, new MessageInflater({ contextTakeover: true, windowBits: 15 }, longest)),
          ).toEqual([]);
          if (longest > 0) {
            const v = measure(
              frames,
              splits,
              new MessageInflater({ contextTakeover: true, windowBits: 15 }, longest - 1),
            );
            expect(v).toEqual(["1009"]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("leaves uncompressed messages (RSV1 clear) to the frame length check", () => {
    const inflater = new MessageInflater({ contextTakeover: true, windowBits: 15 }, 10);
    expect(measure(masked(Buffer.alloc(100), 0x82, 7), [], inflater)).toEqual([]);
  });
});

describe("deflateParameters", () => {
  it("reads the agreed parameters per direction", () => {
    expect(deflateParameters("")).toBeUndefined();
    expect(deflateParameters("x-other")).toBeUndefined();
    expect(
      deflateParameters(
        'permessage-deflate; client_no_context_takeover; server_max_window_bits="10"; client_max_window_bits',
      ),
    ).toEqual({
      fromClient: { contextTakeover: false, windowBits: 15 },
      fromBackend: { contextTakeover: true, windowBits: 10 },
    });
  });

  it("allows an honest encoder's expansion of the limit", () => {
    const limit = 100_000;
    const stored = zlib.deflateRawSync(
      Buffer.from(Array.from({ length: limit }, (_, i) => (i * 7919) % 251)),
      {
        level: 0,
      },
    );
    expect(stored.length).toBeLessThanOrEqual(compressedBound(limit));
  });
});
