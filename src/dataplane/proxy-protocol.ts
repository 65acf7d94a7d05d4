/**
 * PROXY protocol v1 and v2 (HAProxy's spec), as sent by cloud load balancers so
 * that the gateway learns the real client address of a TCP connection. With
 * `--proxy-protocol`, every connection must start with such a header; the rest of
 * the bytes go to the HTTP (or TLS) server as usual.
 *
 * A PROXY header names the client, so it is believed only from a load balancer:
 * with `--trusted-proxies` set, a connection from any other peer is closed before
 * a byte is read (without the flag, the listener trusts whoever can reach it —
 * put it behind the load balancer only). The header is read in linear time and
 * within the header timeout.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import type { TrustedProxies } from "./client-identity.js";

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

export type ProxyHeader =
  /** The address the load balancer accepted the connection from. */
  | { kind: "proxied"; sourceAddress: string; sourcePort: number; length: number }
  /** A LOCAL (v2) or UNKNOWN (v1) header: a health check from the balancer itself; keep the peer. */
  | { kind: "local"; length: number };

export type ParseOutcome = ProxyHeader | { kind: "incomplete" } | { kind: "invalid"; reason: string };

/** Parses a PROXY header at the start of `buffer`. */
export function parseProxyHeader(buffer: Buffer): ParseOutcome {
  if (buffer.length >= 1 && buffer[0] === 0x0d) return parseV2(buffer);
  if (buffer.length >= 1 && buffer[0] === 0x50 /* P */) return parseV1(buffer);
  return { kind: "invalid", reason: "connection does not start with a PROXY protocol header" };
}

function parseV1(buffer: Buffer): ParseOutcome {
  const end = buffer.indexOf("\r\n");
  if (end === -1) {
    return buffer.length >= V1_MAX
      ? { kind: "invalid", reason: "PROXY v1 header too long" }
      : { kind: "incomplete" };
  }
  const parts = buffer.subarray(0, end).toString("latin1").split(" ");
  if (parts[0] !== "PROXY") return { kind: "invalid", reason: "not a PROXY v1 header" };
  if (parts[1] === "UNKNOWN") return { kind: "local", length: end + 2 };
  if ((parts[1] !== "TCP4" && parts[1] !== "TCP6") || parts.length !== 6) {
    return { kind: "invalid", reason: "malformed PROXY v1 header" };
  }
  const source = parts[2] as string;
  const family = net.isIP(source);
  const port = Number(parts[4]);
  if (family !== (parts[1] === "TCP4" ? 4 : 6) || !Number.isInteger(port) || port < 0 || port > 65535) {
    return { kind: "invalid", reason: "malformed PROXY v1 address" };
  }
  return { kind: "proxied", sourceAddress: source, sourcePort: port, length: end + 2 };
}

function parseV2(buffer: Buffer): ParseOutcome {
  if (buffer.length < 16) {
    return V2_SIGNATURE.subarray(0, buffer.length).equals(buffer.subarray(0, V2_SIGNATURE.length))
      ? { kind: "incomplete" }
      : { kind: "invalid", reason: "not a PROXY v2 header" };
  }
  if (!buffer.subarray(0, 12).equals(V2_SIGNATURE))
    return { kind: "invalid", reason: "not a PROXY v2 header" };
  const versionCommand = buffer[12] as number;
  if (versionCommand >> 4 !== 2) return { kind: "invalid", reason: "unsupported PROXY protocol version" };
  const length = 16 + buffer.readUInt16BE(14);
  if (buffer.length < length) return { kind: "incomplete" };
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { kind: "local", length };
  if (command !== 0x1) return { kind: "invalid", reason: "unknown PROXY v2 command" };
  const family = (buffer[13] as number) >> 4;
  if (family === 0x1 && length >= 16 + 12) {
    const source = [...buffer.subarray(16, 20)].join(".");
    return { kind: "proxied", sourceAddress: source, sourcePort: buffer.readUInt16BE(24), length };
  }
  if (family === 0x2 && length >= 16 + 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(buffer.readUInt16BE(16 + i).toString(16));
    const source = new net.SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
    return { kind: "proxied", sourceAddress: source, sourcePort: buffer.readUInt16BE(48), length };
  }
  // AF_UNSPEC or AF_UNIX: no usable client address.
  return { kind: "local", length };
}

/** What a {@link ProxyHeaderReader} knows after a chunk. */
export type ReadOutcome =
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string }
  /** The header, and the bytes of the last chunk that followed it. */
  | (ProxyHeader & { rest: Buffer });

const V2_FIXED = 16;

/**
 * Reads a PROXY header from chunks as they arrive, copying each byte once and
 * parsing once, when the header is complete. A v1 line is at most 107 bytes and a
 * v2 header announces its length in its first 16, so the buffer is sized up front
 * (v2: once more, to the announced length). Re-concatenating the buffer on every
 * chunk costs O(n²) for a header dribbled one byte at a time.
 */
export class ProxyHeaderReader {
  #buffer = Buffer.alloc(0);
  #length = 0;
  #version: 1 | 2 | undefined;
  /** Bytes copied into the reader's buffer so far: at most the header's length + 16. */
  copiedBytes = 0;

  push(chunk: Buffer): ReadOutcome {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#version === undefined) {
        const first = chunk[offset];
        if (first === 0x0d) this.#version = 2;
        else if (first === 0x50 /* P */) this.#version = 1;
        else return { kind: "invalid", reason: "connection does not start with a PROXY protocol header" };
        this.#buffer = Buffer.allocUnsafe(this.#version === 1 ? V1_MAX : V2_FIXED);
      }
      if (this.#version === 1) {
        const lf = chunk.indexOf(0x0a, offset);
        const take = Math.min((lf === -1 ? chunk.length : lf + 1) - offset, V1_MAX - this.#length);
        offset = this.#copy(chunk, offset, take);
        if (lf !== -1 && offset === lf + 1) return this.#finish(chunk.subarray(offset));
        if (this.#length >= V1_MAX) return { kind: "invalid", reason: "PROXY v1 header too long" };
        continue;
      }
      offset = this.#copy(chunk, offset, Math.min(chunk.length - offset, this.#buffer.length - this.#length));
      const signed = Math.min(this.#length, V2_SIGNATURE.length);
      if (!this.#buffer.subarray(0, signed).equals(V2_SIGNATURE.subarray(0, signed))) {
        return { kind: "invalid", reason: "not a PROXY v2 header" };
      }
      if (this.#length === V2_FIXED && this.#buffer.length === V2_FIXED) {
        const total = V2_FIXED + this.#buffer.readUInt16BE(14);
        if (total > V2_FIXED) {
          const grown = Buffer.allocUnsafe(total);
          this.#buffer.copy(grown, 0, 0, V2_FIXED);
          this.copiedBytes += V2_FIXED;
          this.#buffer = grown;
        }
      }
      if (this.#length === this.#buffer.length && this.#length >= V2_FIXED) {
        return this.#finish(chunk.subarray(offset));
      }
    }
    return { kind: "incomplete" };
  }

  #copy(chunk: Buffer, offset: number, count: number): number {
    chunk.copy(this.#buffer, this.#length, offset, offset + count);
    this.#length += count;
    this.copiedBytes += count;
    return offset + count;
  }

  #finish(rest: Buffer): ReadOutcome {
    const outcome = parseProxyHeader(this.#buffer.subarray(0, this.#length));
    // A v1 line that ends in a bare LF never shows its CRLF to the parser.
    if (outcome.kind === "incomplete") return { kind: "invalid", reason: "PROXY v1 line must end with CRLF" };
    if (outcome.kind === "invalid") return outcome;
    return { ...outcome, rest };
  }
}

/** A socket whose client address came from a PROXY header. */
export type ProxiedSocket = net.Socket & { proxiedAddress?: string };

/**
 * Hands a connection whose PROXY header was read to the server that serves it.
 * `rest` holds the bytes that followed the header; `address` is the client's
 * address from the header (absent for LOCAL/UNKNOWN headers).
 */
export type Handoff = (socket: net.Socket, rest: Buffer, address: string | undefined) => void;

/** Handoff to a plain `http.Server`: the rest of the bytes are put back on the socket. */
export function toHttpServer(server: net.Server): Handoff {
  return (socket: ProxiedSocket, rest, address) => {
    if (address !== undefined) socket.proxiedAddress = address;
    if (rest.length > 0) socket.unshift(rest);
    server.emit("connection", socket);
    socket.resume();
  };
}

/**
 * A Duplex over `socket` that first yields `rest`. TLS must read through a
 * stream like this one: given the socket itself, it reads the kernel handle
 * directly and would never see the bytes already read past the PROXY header.
 */
export function replayingStream(socket: net.Socket, rest: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  if (rest.length > 0) stream.push(rest);
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  socket.resume();
  return stream;
}

export interface ProxyProtocolOptions {
  /** Time from accept to a complete PROXY header: `--header-timeout` (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * `--trusted-proxies`: when it lists any address, connections from other peers
   * are closed at once — their PROXY header would be a client naming itself.
   */
  readonly trusted?: TrustedProxies;
}

/**
 * A TCP server that reads the PROXY header of each connection and hands the
 * connection, with the rest of its bytes and the client address, to `handoff`.
 * Connections without a valid header within the timeout are dropped: a
 * PROXY-protocol listener must never guess.
 */
export function createProxyProtocolServer(
  handoff: Handoff | net.Server,
  options: ProxyProtocolOptions = {},
): net.Server {
  const handOver = typeof handoff === "function" ? handoff : toHttpServer(handoff);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const trusted = options.trusted;
  return net.createServer((socket: net.Socket) => {
    socket.on("error", () => socket.destroy());
    if (trusted && !trusted.empty && !trusted.has(socket.remoteAddress ?? "")) {
      socket.destroy();
      return;
    }
    const reader = new ProxyHeaderReader();
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once("close", () => clearTimeout(timer));
    const onData = (chunk: Buffer): void => {
      const outcome = reader.push(chunk);
      if (outcome.kind === "incomplete") return;
      clearTimeout(timer);
      socket.off("data", onData);
      if (outcome.kind === "invalid") {
        socket.destroy();
        return;
      }
      socket.pause();
      handOver(socket, outcome.rest, outcome.kind === "proxied" ? outcome.sourceAddress : undefined);
    };
    socket.on("data", onData);
  });
}
