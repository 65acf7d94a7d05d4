/**
 * What arrives while a real `wsgate serve` child process stops (the built CLI: `npm run
 * build` first). After SIGTERM the listeners accept nothing new, but a kept-alive HTTP/1.1
 * connection whose request was in flight stays open and may bring one more request.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { closeClient, connect, roundTrip } from "./helpers/gateway.js";
import { eventually } from "./helpers/raw-peers.js";
import { upgradeRequest } from "./helpers/raw-http.js";
import { spawnServe, type ServeProcess } from "./helpers/serve-process.js";
import { manifestDir, routeYaml, serviceYaml } from "./helpers/standalone.js";

/**
 * A backend whose `/slow`, `/stream` and `/fail` requests wait for `release()`: `/slow` then
 * answers, `/stream` (whose head and first body bytes it sends at once) ends its body, `/fail`
 * drops its connection without an answer. It echoes WebSocket messages.
 */
interface HoldingBackend {
  readonly port: number;
  /** Plain requests now waiting. */
  readonly held: http.ServerResponse[];
  /** WebSocket connections accepted, and still open. */
  readonly upgrades: { accepted: number; open: number };
  release(): void;
  close(): Promise<void>;
}

async function startHoldingBackend(): Promise<HoldingBackend> {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === "/stream") {
      // A head alone waits in the gateway's response until body bytes follow it.
      res.writeHead(200, { "Content-Length": "slow done".length });
      res.write("slow ");
    }
    if (["/slow", "/stream", "/fail"].includes(req.url ?? "")) held.push(res);
    else res.end(`served ${req.url}`);
  });
  const upgrades = { accepted: 0, open: 0 };
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws) => {
    upgrades.accepted++;
    upgrades.open++;
    ws.on("close", () => upgrades.open--);
    ws.on("message", (data, binary) => ws.send(data, { binary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    held,
    upgrades,
    release: () =>
      held
        .splice(0)
        .forEach((res) =>
          res.req.url === "/fail"
            ? res.socket?.destroy()
            : res.end(res.req.url === "/stream" ? "done" : "slow done"),
        ),
    async close() {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Answer {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** A client connection that stays open across requests, reading one answer at a time. */
class KeptAlive {
  readonly #socket: net.Socket;
  #buffer = "";
  #wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.#socket = net.connect(port, "127.0.0.1");
    this.#socket.setEncoding("latin1");
    this.#socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake?.();
    });
    this.#socket.on("error", () => {});
    this.closed = new Promise((resolve) => this.#socket.once("close", () => resolve()));
    void this.closed.then(() => this.#wake?.());
  }

  get open(): boolean {
    return !this.#socket.destroyed;
  }

  /** What has arrived and is not read yet. */
  get received(): string {
    return this.#buffer;
  }

  send(request: string): void {
    this.#socket.write(request, "latin1");
  }

  /** The next complete answer (its body framed by Content-Length). */
  async answer(): Promise<Answer> {
    for (;;) {
      const end = this.#buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine = "", ...lines] = this.#buffer.slice(0, end).split("\r\n");
        const headers = new Map(
          lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
        );
        const length = Number(headers.get("content-length") ?? 0);
        if (this.#buffer.length >= end + 4 + length) {
          const body = this.#buffer.slice(end + 4, end + 4 + length);
          this.#buffer = this.#buffer.slice(end + 4 + length);
          return { status: Number(statusLine.split(" ")[1]), headers, body };
        }
      }
      if (this.#socket.destroyed)
        throw new Error(`connection closed; received ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

const HOST = "chat.example.com";
const keepAliveGet = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;

let gw: ServeProcess | undefined;
let backend: HoldingBackend | undefined;
let dir: string | undefined;
const clients: KeptAlive[] = [];

afterEach(async () => {
  gw?.proc.kill("SIGKILL");
  for (const c of clients.splice(0)) c.destroy();
  await backend?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  gw = backend = dir = undefined;
});

/** A holding backend behind one route `/`, and `wsgate serve` on it with `--workers`. */
async function startScene(
  workers: string,
  name: string,
): Promise<{ serve: ServeProcess; port: number; admin: string; backend: HoldingBackend }> {
  const held = (backend = await startHoldingBackend());
  dir = manifestDir(name);
  writeFileSync(join(dir, "echo.yaml"), `${serviceYaml("echo", held.port)}---\n${routeYaml("echo", "/")}`);
  const serve = (gw = spawnServe(dir, ["--shutdown-drain", "30s", "--workers", workers]));
  const { http: port, admin } = await serve.listening();
  return { serve, port, admin, backend: held };
}

// One data-plane thread, and two: each worker refuses on its own.
it.for(["1", "2"])(
  "answers a handshake that a kept-alive connection sends during the shutdown drain with 503 shutting_down, so that the client reconnects to a replica that stays instead of opening a WebSocket the drain must cut (--workers %s)",
  { timeout: 60_000 },
  async (workers) => {
    const { serve, port, admin, backend } = await startScene(workers, "shutdown-handshake");

    // The control: before SIGTERM the same route opens WebSockets.
    const control = await connect(`ws://127.0.0.1:${port}/ws`);
    expect((await roundTrip(control, "before")).data.toString()).toBe("before");
    await closeClient(control);
    await eventually(() => backend.upgrades.open === 0, "the control WebSocket to end", 20_000);

    // Two kept-alive connections, each with a response under way when SIGTERM comes: its head
    // (keep-alive) already written, so the connection stays open after its end.
    const upgrading = new KeptAlive(port);
    const plain = new KeptAlive(port);
    clients.push(upgrading, plain);
    upgrading.send(keepAliveGet("/stream"));
    plain.send(keepAliveGet("/stream"));
    await eventually(
      () => [upgrading, plain].every((c) => c.received.includes("\r\n\r\n")),
      "both response heads to reach the clients",
      20_000,
    );
    serve.proc.kill("SIGTERM");
    await serve.event("draining");
    backend.release();
    expect((await upgrading.answer()).status).toBe(200);
    expect((await plain.answer()).status).toBe(200);
    expect(upgrading.open && plain.open).toBe(true);

    upgrading.send(upgradeRequest("/ws", HOST));
    const refused = await upgrading.answer();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("connection")).toBe("close");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    await upgrading.closed;
    expect(backend.upgrades.accepted).toBe(1);
    const logged = await serve.logLine((l) => l.event === "handshake_rejected");
    expect(logged).toMatchObject({ status: 503, reason: "shutting_down", path: "/ws" });
    // A worker's counters reach the main thread's /metrics a moment after its log line: poll.
    const counted = /^wsgate_handshake_rejections_total\{[^}]*reason="shutting_down"[^}]*\} 1$/m;
    const deadline = Date.now() + 20_000;
    let metrics = "";
    while (!counted.test(metrics) && Date.now() < deadline) {
      metrics = await (await fetch(`${admin}/metrics`)).text();
      if (!counted.test(metrics)) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(metrics).toMatch(counted);

    // A plain request is still served, but closes its connection: the next one goes elsewhere.
    plain.send(keepAliveGet("/after"));
    const served = await plain.answer();
    expect(served).toMatchObject({ status: 200, body: "served /after" });
    expect(served.headers.get("connection")).toBe("close");
    await plain.closed;

    // Nothing is left open: the process ends its drain and exits cleanly.
    expect(await serve.exited).toBe(0);
  },
);

it.for(["1", "2"])(
  "closes the connection of a plain response written after SIGTERM to a request sent before it, answered or refused, so that the client's next request goes to a replica that stays (--workers %s)",
  { timeout: 60_000 },
  async (workers) => {
    const { serve, port, backend } = await startScene(workers, "shutdown-in-flight");

    // The control: before SIGTERM a plain answer keeps its connection.
    const control = new KeptAlive(port);
    clients.push(control);
    control.send(keepAliveGet("/before"));
    const before = await control.answer();
    expect(before).toMatchObject({ status: 200, body: "served /before" });
    expect(before.headers.get("connection")).toBe("keep-alive");
    control.destroy();

    // Requests in flight at SIGTERM, nothing of their answers written yet: one the backend
    // answers after the drain began, one it fails (the gateway's 502 is a refusal).
    const answered = new KeptAlive(port);
    const refused = new KeptAlive(port);
    clients.push(answered, refused);
    answered.send(keepAliveGet("/slow"));
    refused.send(keepAliveGet("/fail"));
    await eventually(() => backend.held.length === 2, "both requests to reach the backend", 20_000);
    serve.proc.kill("SIGTERM");
    await serve.event("draining");
    backend.release();

    const served = await answered.answer();
    expect(served).toMatchObject({ status: 200, body: "slow done" });
    expect(served.headers.get("connection")).toBe("close");
    await answered.closed;
    const failed = await refused.answer();
    expect(failed.status).toBe(502);
    expect(failed.headers.get("connection")).toBe("close");
    await refused.closed;

    expect(await serve.exited).toBe(0);
  },
);
