/**
 * PROXY protocol v1 and v2 (HAProxy's spec), as sent by cloud load balancers so
 * that the gateway learns the real client address of a TCP connection. With
 * `--proxy-protocol`, every connection must start with such a header; the rest of
 * the bytes go to the HTTP (or TLS) server as usual.
 */
import net from "node:net";
import { Duplex } from "node:stream";

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

/**
 * A TCP server that reads the PROXY header of each connection and hands the
 * connection, with the rest of its bytes and the client address, to `handoff`.
 * Connections without a valid header within `timeoutMs` are dropped: a
 * PROXY-protocol listener must never guess.
 */
export function createProxyProtocolServer(handoff: Handoff | net.Server, timeoutMs = 5_000): net.Server {
  const handOver = typeof handoff === "function" ? handoff : toHttpServer(handoff);
  return net.createServer((socket: net.Socket) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("error", () => socket.destroy());
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const outcome = parseProxyHeader(buffered);
      if (outcome.kind === "incomplete") return;
      clearTimeout(timer);
      socket.off("data", onData);
      if (outcome.kind === "invalid") {
        socket.destroy();
        return;
      }
      socket.pause();
      handOver(
        socket,
        buffered.subarray(outcome.length),
        outcome.kind === "proxied" ? outcome.sourceAddress : undefined,
      );
    };
    socket.on("data", onData);
  });
}
