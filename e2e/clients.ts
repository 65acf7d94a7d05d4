/**
 * WebSocket clients of the e2e, connected through the gateway's NodePort: one-shot
 * clients, and followed clients that reconnect after every close as a real client does,
 * recording each close (code, time, the echo Pod it was on).
 */
import WebSocket from "ws";
import { GATEWAY_URL } from "./cluster.js";

/** A client connected through the gateway to one echo Pod. */
export interface Client {
  readonly socket: WebSocket;
  /** The echo Pod serving it. */
  readonly pod: string;
  /** The echo Pod's node. */
  readonly node: string;
  /**
   * Where the gateway's upstream leg came from, as the echo Pod saw it: a gateway
   * Pod's IP on the same node, its node's IP across nodes (see servingGateway()).
   */
  readonly peer: string;
  /** Resolves with the close code and when it arrived (ms since the epoch). */
  readonly closed: Promise<{ code: number; at: number }>;
}

/** Opens a WebSocket to /echo through the gateway and asks the backend who and where it is. */
export function connect(path = "/echo"): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${GATEWAY_URL}${path}`, { handshakeTimeout: 10_000 });
    const closed = new Promise<{ code: number; at: number }>((done) =>
      socket.once("close", (code) => done({ code, at: Date.now() })),
    );
    socket.once("unexpected-response", (_req, res) =>
      reject(new Error(`handshake refused: HTTP ${res.statusCode}`)),
    );
    socket.once("error", reject);
    socket.once("open", () => {
      socket.once("message", (data) => {
        const { pod, node, peer } = JSON.parse(String(data)) as Whence;
        resolve({ socket, pod, node, peer, closed });
      });
      socket.send("whence");
    });
  });
}

/** connect(), retried with a short back-off, as a real client reconnects. */
export async function reconnect(attempts = 8): Promise<{ client: Client; attempts: number }> {
  for (let i = 1; ; i++) {
    try {
      return { client: await connect(), attempts: i };
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250 * i));
    }
  }
}

/** Sends a text message and resolves with the first answer. */
export function ask(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("message", (data) => resolve(String(data)));
    socket.once("error", reject);
    socket.send(text);
  });
}

/** Where the echo Pod of a connection runs, and the address the gateway's leg came from. */
export interface Whence {
  readonly pod: string;
  readonly node: string;
  readonly peer: string;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Closes clients and waits until they are closed. */
export async function closeAll(clients: readonly Client[]): Promise<void> {
  for (const c of clients) if (c.socket.readyState === WebSocket.OPEN) c.socket.close(1000);
  await Promise.all(
    clients.map((c) =>
      Promise.race([
        c.closed,
        new Promise((resolve) => setTimeout(resolve, 5_000)).then(() => c.socket.terminate()),
      ]),
    ),
  );
}

/** Opens `n` clients, `concurrency` handshakes at a time (a burst of 300 would be a test of its own). */
export async function connectMany<T>(n: number, open: () => Promise<T>, concurrency = 20): Promise<T[]> {
  const opened: T[] = [];
  while (opened.length < n) {
    const batch = Math.min(concurrency, n - opened.length);
    opened.push(...(await Promise.all(Array.from({ length: batch }, open))));
  }
  return opened;
}

/** One close a followed client saw. */
export interface CloseRecord {
  readonly code: number;
  /** When it arrived (ms since the epoch). */
  readonly at: number;
  /** The echo Pod the closed connection was on. */
  readonly pod: string;
  /** Where its upstream leg came from (Client.peer): names the gateway replica. */
  readonly peer: string;
}

/**
 * A client that reconnects after every close, as a real one does, and records each
 * close. stop() ends the following before closing: a client closed by the test itself
 * must not reconnect (a reconnect racing the end of a suite would leave a connection
 * open on the gateway, and the next suite's gatewaysSettled() would wait for it).
 */
export class FollowedClient {
  #current: Client;
  #reconnecting = false;
  #stopped = false;
  readonly closes: CloseRecord[] = [];
  /** Attempts each reconnect took (1 = at once). */
  readonly reconnectAttempts: number[] = [];
  /** Set when a reconnect failed for good. */
  failure: Error | undefined;

  private constructor(first: Client) {
    this.#current = first;
    this.#follow(first);
  }

  static async open(): Promise<FollowedClient> {
    return new FollowedClient(await connect());
  }

  /** The connection now (replaced after each close). */
  get current(): Client {
    return this.#current;
  }

  /** Connected on an open socket, not between a close and its reconnect. */
  get settled(): boolean {
    return !this.#reconnecting && this.#current.socket.readyState === WebSocket.OPEN;
  }

  #follow(client: Client): void {
    // Marked before the close event's promise settles, so no check sees a closed
    // socket as anything but "reconnecting".
    client.socket.once("close", () => {
      if (!this.#stopped) this.#reconnecting = true;
    });
    void client.closed.then(async ({ code, at }) => {
      if (this.#stopped) return;
      this.closes.push({ code, at, pod: client.pod, peer: client.peer });
      try {
        const { client: next, attempts } = await reconnect();
        if (this.#stopped) {
          next.socket.close(1000);
          return;
        }
        this.reconnectAttempts.push(attempts);
        this.#current = next;
        this.#follow(next);
      } catch (err) {
        this.failure = err as Error;
      } finally {
        this.#reconnecting = false;
      }
    });
  }

  /** Stops reconnecting and closes the current connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await closeAll([this.#current]);
  }
}

/** Stops every followed client and waits until all are closed. */
export async function stopAll(clients: readonly FollowedClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.stop()));
}
