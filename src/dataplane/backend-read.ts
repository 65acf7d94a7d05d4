/**
 * How a plain-TCP backend socket is read: into one buffer shared by every such socket
 * (net's `onread`), each chunk copied out of it for the socket's listeners. Node's
 * default read path allocates a 64 KiB ArrayBuffer per read, shrinks it, and takes each
 * chunk through the Readable machinery (push, a nextTick, a read(0)) before 'data'; a
 * relay reads a backend a dozen 64 B messages at a time, so that was a large share of
 * the CPU per message (bench W2). To its listeners the socket is an ordinary Readable:
 * 'data' while it flows, chunks buffered while nobody reads (a socket between the
 * backend's 101 and the relay), pause() stops reading, 'end' on FIN.
 */
import type { Socket } from "node:net";

/** The most one read takes: Node's own read size. */
const READ_BYTES = 64 * 1024;

/**
 * Called by the socket after each read of `nread` bytes into the shared buffer. The
 * buffer is overwritten by the next read of any socket, so listeners get a copy: a
 * chunk may be held (a write queued behind a slow peer) long after this returns.
 */
function delivered(this: Socket, nread: number, buffer: Buffer): boolean {
  // Buffer.from copies (from the pool when small); cheaper than allocUnsafe + copy().
  const chunk = Buffer.from(buffer.subarray(0, nread));
  // Flowing with nothing buffered: what Readable would do, without its detour.
  if (this.readableFlowing === true && this.readableLength === 0) {
    this.emit("data", chunk);
    return true;
  }
  // Paused or not yet read: Readable keeps the chunk in order, and false stops reading.
  return this.push(chunk);
}

/** `onread` for `net.connect` of a backend socket (plain TCP; TLS sockets read their own way). */
export const BACKEND_READ: { readonly buffer: Buffer; readonly callback: typeof delivered } = Object.freeze({
  buffer: Buffer.allocUnsafe(READ_BYTES),
  callback: delivered,
});
