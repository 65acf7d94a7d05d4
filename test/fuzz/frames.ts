/**
 * Generators of client-to-server WebSocket frame streams for after a successful
 * upgrade: random opcodes and RSV bits, 7-, 16- and 64-bit lengths (minimal or not,
 * up to 2^64-1, declared longer than what is sent), masked and unmasked, fragments,
 * oversized control frames, close frames with odd codes and reasons, messages over
 * the route's limit — and how the client ends the connection.
 */
import { constants, deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { PUBLIC_MAX_MESSAGE_BYTES } from "./fixture.js";

export interface ClientFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly mask: number;
  /** How the length is written: the smallest form, or a forced 16- or 64-bit field. */
  readonly lengthForm: "minimal" | "16" | "64";
  /** A length field that lies about the payload (the stream then ends inside this frame). */
  readonly declared: bigint | undefined;
  readonly payload: Uint8Array;
  /** For a compressed (RSV1) message: how many bytes it inflates to. */
  readonly inflates?: number;
}

/** The frame's bytes. */
export function encodeFrame(frame: ClientFrame): Buffer {
  const length = frame.declared ?? BigInt(frame.payload.length);
  const form =
    frame.lengthForm === "minimal"
      ? length <= 125n
        ? "7"
        : length <= 0xffffn
          ? "16"
          : "64"
      : frame.lengthForm;
  const head: number[] = [((frame.fin ? 1 : 0) << 7) | ((frame.rsv & 7) << 4) | (frame.opcode & 0x0f)];
  const maskBit = frame.masked ? 0x80 : 0;
  let lengthBytes: Buffer;
  if (form === "7" && length <= 125n) {
    head.push(maskBit | Number(length));
    lengthBytes = Buffer.alloc(0);
  } else if (form !== "64" && length <= 0xffffn) {
    head.push(maskBit | 126);
    lengthBytes = Buffer.alloc(2);
    lengthBytes.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    lengthBytes = Buffer.alloc(8);
    lengthBytes.writeBigUInt64BE(length & 0xffff_ffff_ffff_ffffn);
  }
  const payload = Buffer.from(frame.payload);
  const parts = [Buffer.from(head), lengthBytes];
  if (frame.masked) {
    const key = Buffer.alloc(4);
    key.writeUInt32BE(frame.mask >>> 0);
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
    parts.push(key);
  }
  parts.push(payload);
  return Buffer.concat(parts);
}

/** The frame's payload arrives whole: the stream does not end inside it. */
export function isWhole(frame: ClientFrame): boolean {
  return frame.declared === undefined || frame.declared === BigInt(frame.payload.length);
}

const CLOSE_CODES = [
  0, 999, 1000, 1001, 1002, 1004, 1005, 1006, 1007, 1009, 1012, 1015, 1016, 2999, 3000, 4999, 5000, 65535,
];

const closePayload = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.constant(new Uint8Array([0x03])),
  fc
    .tuple(fc.constantFrom(...CLOSE_CODES), fc.constantFrom("", "bye", "\u00ff\u00fe", "x".repeat(130)))
    .map(([code, reason]) => {
      const bytes = Buffer.alloc(2 + Buffer.byteLength(reason, "latin1"));
      bytes.writeUInt16BE(code);
      bytes.write(reason, 2, "latin1");
      return new Uint8Array(bytes);
    }),
);

const smallPayload = fc.uint8Array({ maxLength: 160 });
const declaredLengths = fc.constantFrom(
  0n,
  1n,
  125n,
  126n,
  4096n,
  4097n,
  65535n,
  65536n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
);

const baseFrame = {
  fin: fc.boolean(),
  rsv: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) },
  ),
  masked: fc.oneof({ weight: 8, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  mask: fc.integer({ min: 0, max: 0xffff_ffff }),
  lengthForm: fc.oneof(
    { weight: 6, arbitrary: fc.constant("minimal" as const) },
    { weight: 1, arbitrary: fc.constantFrom("16" as const, "64" as const) },
  ),
  declared: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: declaredLengths },
  ),
};

/**
 * permessage-deflate messages (RFC 7692: raw deflate, the final empty block's
 * `00 00 ff ff` left off) of repeated bytes: small, near the limit, and zip bombs.
 */
const DEFLATED = [10, 4_000, 4_097, 100_000, 10_000_000].map((size) => {
  const compressed = deflateRawSync(Buffer.alloc(size, 0x61), { finishFlush: constants.Z_SYNC_FLUSH });
  return { size, payload: new Uint8Array(compressed.subarray(0, compressed.length - 4)) };
});

/** One frame: data, control, close, reserved opcodes, a message over the limit, or a compressed one. */
export const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ ...baseFrame, opcode: fc.constantFrom(0, 1, 2), payload: smallPayload }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ ...baseFrame, opcode: fc.constantFrom(9, 10), payload: smallPayload }),
  },
  { weight: 2, arbitrary: fc.record({ ...baseFrame, opcode: fc.constant(8), payload: closePayload }) },
  {
    weight: 1,
    arbitrary: fc.record({
      ...baseFrame,
      opcode: fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15),
      payload: smallPayload,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      ...baseFrame,
      opcode: fc.constantFrom(0, 2),
      declared: fc.constant(undefined),
      payload: fc
        .integer({ min: PUBLIC_MAX_MESSAGE_BYTES - 8, max: PUBLIC_MAX_MESSAGE_BYTES + 600 })
        .map((n) => new Uint8Array(n).fill(0x61)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        ...baseFrame,
        fin: fc.constant(true),
        rsv: fc.constant(4),
        opcode: fc.constantFrom(1, 2),
        declared: fc.constant(undefined),
        deflated: fc.constantFrom(...DEFLATED),
      })
      .map(({ deflated, ...frame }) => ({ ...frame, payload: deflated.payload, inflates: deflated.size })),
  },
);

/** How the client leaves: a Close frame, a half-close (FIN), or a plain close or reset of the socket. */
export type Ending = "close-frame" | "fin" | "destroy" | "reset";

/**
 * The route a frame stream runs on: `public` (message limit, permessage-deflate stripped),
 * `api` (JWT, no limit), `other` (message limit, permessage-deflate inflated to count).
 */
export type FrameRoute = "public" | "api" | "other";

export interface FrameStream {
  readonly route: FrameRoute;
  /** Offer permessage-deflate in the handshake. */
  readonly deflate: boolean;
  readonly frames: readonly ClientFrame[];
  readonly cuts: readonly number[];
  readonly ending: Ending;
}

export const frameStream: fc.Arbitrary<FrameStream> = fc.record({
  route: fc.constantFrom<FrameRoute>("public", "api", "other"),
  deflate: fc.boolean(),
  frames: fc.array(clientFrame, { maxLength: 8 }),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  ending: fc.constantFrom<Ending>("close-frame", "fin", "destroy", "reset"),
});

/** A masked Close 1000: the polite ending. */
export const CLOSE_1000 = encodeFrame({
  fin: true,
  rsv: 0,
  opcode: 8,
  masked: true,
  mask: 0x01020304,
  lengthForm: "minimal",
  declared: undefined,
  payload: new Uint8Array([0x03, 0xe8]),
});
