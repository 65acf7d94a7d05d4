/**
 * A crowd of WebSocket clients that behave like real apps after a 1012: every client whose
 * connection the gateway closes reconnects at once, and each close is recorded with the
 * code it carried and when the client saw it.
 */
import WebSocket from "ws";

/** One close a client saw. */
export interface SeenClose {
  readonly code: number;
  /** `Date.now()` when the client received the Close frame (or, without one, saw the connection end). */
  readonly at: number;
}

export class ReconnectingClients {
  readonly #url: string;
  readonly #open = new Set<WebSocket>();
  readonly #all = new Set<WebSocket>();
  /** Every close seen, in order. */
  readonly closes: SeenClose[] = [];
  /** Handshakes that failed (each is retried). */
  failures = 0;
  #stopped = false;
  readonly #keepCookies: boolean;

  /**
   * With `keepCookies`, each client keeps the cookies the gateway sets on its 101 and sends
   * them when it reconnects, as a browser does (session affinity).
   */
  constructor(url: string, options: { keepCookies?: boolean } = {}) {
    this.#url = url;
    this.#keepCookies = options.keepCookies ?? false;
  }

  /** Clients whose connection is open now. */
  get open(): number {
    return this.#open.size;
  }

  /** Opens `n` clients, `batch` handshakes at a time; resolves when all are open. */
  async connect(n: number, batch = 25): Promise<void> {
    for (let i = 0; i < n; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => this.#openOne()));
    }
  }

  /** Stops reconnecting and ends every client. */
  close(): void {
    this.#stopped = true;
    for (const ws of this.#all) ws.terminate();
    this.#all.clear();
    this.#open.clear();
  }

  #openOne(jar: Map<string, string> = new Map()): Promise<void> {
    return new Promise((resolve) => {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
      const ws = new WebSocket(this.#url, cookie ? { headers: { Cookie: cookie } } : {});
      if (this.#keepCookies) {
        ws.once("upgrade", (res) => {
          for (const line of res.headers["set-cookie"] ?? []) {
            const pair = line.split(";")[0] ?? "";
            const eq = pair.indexOf("=");
            if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
          }
        });
      }
      this.#all.add(ws);
      let opened = false;
      ws.once("open", () => {
        opened = true;
        this.#open.add(ws);
        resolve();
      });
      ws.on("error", () => {});
      // When the gateway's Close frame arrived: ws answers one by calling close() on the
      // instance, wrapped here. The close event comes a close handshake later, after a
      // delay that varies with load and would blur the per-second count.
      let frameAt: number | undefined;
      const answer = ws.close.bind(ws);
      ws.close = (code?: number, data?: string | Buffer) => {
        frameAt ??= Date.now();
        answer(code, data);
      };
      ws.once("close", (code) => {
        this.#all.delete(ws);
        this.#open.delete(ws);
        if (this.#stopped) return resolve();
        if (opened) this.closes.push({ code, at: frameAt ?? Date.now() });
        else this.failures++;
        // Reconnect at once, as a client told 1012 (service restart) does.
        if (opened) void this.#openOne(jar);
        else void this.#openOne(jar).then(resolve);
      });
    });
  }
}
